"""VITS (Kim et al. 2021) with Piper's quality presets: trained here, exported as Piper voices."""
