"""FluidSynth through pyfluidsynth: a soundfont preset, loaded once, that plays passage events."""

from __future__ import annotations

import contextlib
import ctypes
import io
from pathlib import Path

import numpy as np
import soundfile  # noqa: F401 - before fluidsynth, whose libsndfile (sf3 decoding) is then the wheel's, as in sf3.py

with contextlib.redirect_stdout(io.StringIO()):  # pyfluidsynth prints where it found the library when $CI is set
    import fluidsynth  # noqa: I001

from .midi import TICKS_PER_SECOND, PassageEvent
from .sf3 import default_cache, playable
from .soundfonts import Soundfont

_fl = fluidsynth._fl
_fl.fluid_synth_process.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_fl.fluid_synth_get_sfont_by_id.argtypes = [ctypes.c_void_p, ctypes.c_int]
_fl.fluid_synth_get_sfont_by_id.restype = ctypes.c_void_p
_fl.fluid_synth_add_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_synth_remove_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_version_str.restype = ctypes.c_char_p
_fl.fluid_synth_set_channel_type.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_fl.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_fl.fluid_set_log_function(2, None, None)  # FLUID_WARN: a new synth warns that it has no preset yet

SETTINGS = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512, "synth.dynamic-sample-loading": 1}
_MELODIC, _DRUM_CHANNEL = 0, 9
DEFAULT_PRESET = (0, 0)  # what adding a soundfont selects on every melodic channel


def fluidsynth_version() -> str:
    return _fl.fluid_version_str().decode()


class Piano:
    """A soundfont preset loaded once per process and shared by a fresh synth for every passage.

    A fresh synth has no memory of earlier passages, so a passage's samples depend on its events
    alone, whichever process renders it and whatever it rendered before. Every MIDI channel plays
    the preset (the score's own programs are ignored); reverb and chorus are off.
    """

    def __init__(self, soundfont: Soundfont, sample_rate: int, decoded: Path | None = None):
        """``decoded``: where decoded copies of sf3 files are kept (:mod:`~pdmx_fusa.audio.sf3`; they
        sound the same and load 15x faster); ``None`` for :func:`~pdmx_fusa.audio.sf3.default_cache`."""
        self.soundfont = soundfont
        self.sample_rate = sample_rate
        presets = [(soundfont.bank, soundfont.preset), DEFAULT_PRESET]
        path = playable(soundfont.path, soundfont.sha256, presets, decoded or default_cache())
        self._holder = _synth(sample_rate)
        font_id = self._holder.sfload(path)
        if font_id < 0:
            raise RuntimeError(f"FluidSynth could not load {path}")
        # Samples are read (and sf3 samples decoded) when a channel selects their preset, and
        # dropped when none does. The holder keeps selected what a passage's synth selects: the
        # default a new soundfont gives every channel and the piano; the rest of the soundfont,
        # its drum kits above all, is never read.
        for channel, (bank, preset) in enumerate(presets):
            self._holder.program_select(channel, font_id, bank, preset)
        self._font = _fl.fluid_synth_get_sfont_by_id(self._holder.synth, font_id)

    def play(self, events: list[PassageEvent], seconds: float) -> np.ndarray:
        """Mono float32 samples of ``events`` (ticks on the passage grid), ``seconds`` long."""
        synth = _synth(self.sample_rate, gain=0.5)
        try:
            font_id = _fl.fluid_synth_add_sfont(synth.synth, self._font)
            for channel in range(16):
                synth.program_select(channel, font_id, self.soundfont.bank, self.soundfont.preset)
            return _perform(synth, events, round(seconds * self.sample_rate), self.sample_rate)
        finally:
            _fl.fluid_synth_remove_sfont(synth.synth, self._font)
            synth.delete()


def _synth(sample_rate: int, gain: float = 0.2) -> fluidsynth.Synth:
    """A synth whose 16 channels are all melodic: every one plays the piano, and none selects a
    drum kit (decoding an sf3 kit costs a second) when a soundfont is added."""
    synth = fluidsynth.Synth(gain=gain, samplerate=sample_rate, channels=16, **SETTINGS)
    _fl.fluid_synth_set_channel_type(synth.synth, _DRUM_CHANNEL, _MELODIC)
    return synth


def _perform(synth: fluidsynth.Synth, events: list[PassageEvent], total: int, sample_rate: int) -> np.ndarray:
    mono = np.zeros(total, dtype=np.float32)
    outputs = (ctypes.c_void_p * 2)()
    done = 0

    def write_until(at: int) -> None:
        nonlocal done
        if at > done:
            # FluidSynth adds each output channel into its buffer: both into one, left + right.
            outputs[0] = outputs[1] = mono[done:].ctypes.data
            _fl.fluid_synth_process(synth.synth, at - done, 0, None, 2, outputs)
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
    mono *= 0.5  # the mean of the two channels
    return mono
