"""Shared building blocks: text and audio front end, run log, training infrastructure."""
