"""WaveGlow: mel spectrogram to audio."""
