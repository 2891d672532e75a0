"""Sound: the passage MIDI, the soundfont list, FluidSynth pianos loaded once per process."""
