"""Tacotron 2: text to mel spectrogram."""
