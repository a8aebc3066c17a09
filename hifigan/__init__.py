"""HiFi-GAN: mel spectrogram to audio with a GAN-trained generator (NGC layout)."""
