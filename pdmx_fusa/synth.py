"""FluidSynth through pyfluidsynth: a soundfont preset, loaded once, that plays passage events."""

from __future__ import annotations

import ctypes

import fluidsynth
import numpy as np

from .midi import TICKS_PER_SECOND, PassageEvent
from .soundfonts import Soundfont

_fl = fluidsynth._fl
_fl.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
_fl.fluid_synth_get_sfont_by_id.argtypes = [ctypes.c_void_p, ctypes.c_int]
_fl.fluid_synth_get_sfont_by_id.restype = ctypes.c_void_p
_fl.fluid_synth_add_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_synth_remove_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_version_str.restype = ctypes.c_char_p
_fl.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_set_log_function(2, None, None)  # FLUID_WARN: a new synth warns that it has no preset yet

SETTINGS = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512, "synth.dynamic-sample-loading": 1}


def fluidsynth_version() -> str:
    return _fl.fluid_version_str().decode()


class Piano:
    """A soundfont preset loaded once per process and shared by a fresh synth for every passage.

    A fresh synth has no memory of earlier passages, so a passage's samples depend on its events
    alone, whichever process renders it and whatever it rendered before. Every MIDI channel plays
    the preset (the score's own programs are ignored); reverb and chorus are off.
    """

    def __init__(self, soundfont: Soundfont, sample_rate: int):
        self.soundfont = soundfont
        self.sample_rate = sample_rate
        self._holder = fluidsynth.Synth(samplerate=sample_rate, channels=16, **SETTINGS)
        font_id = self._holder.sfload(soundfont.path)
        if font_id < 0:
            raise RuntimeError(f"FluidSynth could not load {soundfont.path}")
        # Samples are read (and sf3 samples decoded) when a channel selects their preset, and
        # dropped when none does. The holder keeps selected what a passage's synth selects: the
        # defaults a new synth gives its channels (bank 0 program 0, drums on channel 10) and
        # the piano; the rest of the soundfont is never read.
        for channel in range(16):
            self._holder.program_select(channel, font_id, 128 if channel == 9 else 0, 0)
        self._holder.program_select(0, font_id, soundfont.bank, soundfont.preset)
        self._font = _fl.fluid_synth_get_sfont_by_id(self._holder.synth, font_id)

    def play(self, events: list[PassageEvent], seconds: float) -> np.ndarray:
        """Mono float32 samples of ``events`` (ticks on the passage grid), ``seconds`` long."""
        synth = fluidsynth.Synth(gain=0.5, samplerate=self.sample_rate, channels=16, **SETTINGS)
        try:
            font_id = _fl.fluid_synth_add_sfont(synth.synth, self._font)
            for channel in range(16):
                synth.program_select(channel, font_id, self.soundfont.bank, self.soundfont.preset)
            return _perform(synth, events, round(seconds * self.sample_rate), self.sample_rate)
        finally:
            _fl.fluid_synth_remove_sfont(synth.synth, self._font)
            synth.delete()


def _perform(synth: fluidsynth.Synth, events: list[PassageEvent], total: int, sample_rate: int) -> np.ndarray:
    stereo = np.zeros((2, total), dtype=np.float32)
    done = 0

    def write_until(at: int) -> None:
        nonlocal done
        if at > done:
            left, right = stereo[0, done:].ctypes.data, stereo[1, done:].ctypes.data
            _fl.fluid_synth_write_float(synth.synth, at - done, left, 0, 1, right, 0, 1)
            done = at

    for e in events:
        write_until(min(total, round(e.tick * sample_rate / TICKS_PER_SECOND)))
        if e.kind == "note_on":
            synth.noteon(e.channel, e.a, e.b)
        elif e.kind == "note_off":
            synth.noteoff(e.channel, e.a)
        else:
            synth.cc(e.channel, e.a, e.b)
    write_until(total)
    return stereo.mean(axis=0)
