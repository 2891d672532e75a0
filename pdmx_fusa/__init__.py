"""PDMX-FUSA: aligned sheet-music pages, audio and MIDI from public-domain piano scores."""

__version__ = "0.1.0"
