"""Decoded copies of sf3 soundfonts, so a worker loads a piano in milliseconds instead of a second.

An sf3 file is an sf2 whose samples are Ogg Vorbis streams; FluidSynth decodes every sample of a
preset when a channel selects it, in every process that loads the file. :func:`playable` writes,
once per machine, an sf2 in which the samples of the presets a :class:`~pdmx_fusa.audio.synth.Piano`
selects are decoded the way FluidSynth decodes them (with the same libsndfile, to 16-bit PCM) and
every other sample is a short silence; the presets, instruments and generators are copied
unchanged. FluidSynth plays the copy byte-identically to the original (``tests/test_sf3.py``).

The layout is the SoundFont 2.04 specification's (a RIFF ``sfbk`` with ``INFO``, ``sdta`` and
``pdta`` lists); sf3 differs only in its ``ifil`` version (3), in sample headers that give byte
offsets of each Vorbis stream in ``smpl`` (loop points relative to the decoded sample), and in
sample type bit 0x10.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import soundfile  # noqa: F401 - loads the wheel's libsndfile

from ..files import machine_cache, write_atomic

VORBIS = 0x10  # sample type bit of a compressed sample
INSTRUMENT, SAMPLE_ID = 41, 53  # generator operators
PADDING = 46  # zero frames the specification requires after every sample
SILENCE = 64  # frames of the sample that stands in for every sample no kept preset plays
_SHDR = struct.Struct("<20sIIIIIBbHH")


class SoundfontError(ValueError):
    """A soundfont file this module cannot read."""


def default_cache() -> Path:
    """Where decoded copies are kept on this machine: ``$XDG_CACHE_HOME/pdmx-fusa/soundfonts``, or
    in the temporary fall-back of :func:`~pdmx_fusa.files.machine_cache` where that is not writable."""
    return machine_cache() / "soundfonts"


def playable(path: str, sha256: str, presets: list[tuple[int, int]], cache: Path) -> str:
    """The file FluidSynth should load for ``presets`` (bank, program) of the soundfont at
    ``path``: ``path`` itself for an sf2, else a decoded copy in ``cache``, made on first use from
    a file whose digest is ``sha256``. Where no copy can be made (the file differs, the cache is
    not writable), ``path``: it sounds the same."""
    keep = "-".join(f"{bank}.{program}" for bank, program in sorted(set(presets)))
    target = cache / f"{sha256}-{keep}-{sndfile_version().replace(' ', '_')}.sf2"
    if target.exists():
        return str(target)
    try:
        with open(path, "rb") as stream:
            chunks = _read_chunks(path, stream)
            if not any(kind & VORBIS for *_, kind in _sample_headers(chunks["shdr"])):
                return path
            stream.seek(0)
            if hashlib.file_digest(stream, "sha256").hexdigest() != sha256:
                return path
            target.parent.mkdir(parents=True, exist_ok=True)  # before decoding: fails fast where it cannot be written
            stream.seek(chunks["smpl"][0])
            decoded = _decoded(path, chunks, stream.read(chunks["smpl"][1]), set(presets))
        write_atomic(target, decoded)
    except (OSError, SoundfontError, IndexError, struct.error):  # FluidSynth reads the original, or says why not
        return path
    return str(target)


def _read_chunks(path: str, stream) -> dict:
    """The sub-chunks of a SoundFont's lists by id: ``INFO`` whole, ``smpl`` as (offset, size)."""
    head = stream.read(12)
    if head[:4] != b"RIFF" or head[8:] != b"sfbk":
        raise SoundfontError(f"{path}: not a SoundFont (RIFF sfbk) file")
    chunks: dict = {}
    while header := stream.read(12):
        if len(header) < 12 or header[:4] != b"LIST":
            raise SoundfontError(f"{path}: expected a LIST chunk at byte {stream.tell() - len(header)}")
        (size,) = struct.unpack_from("<I", header, 4)
        kind, end = header[8:].decode("latin-1"), stream.tell() + size - 4
        if kind == "INFO":
            chunks["INFO"] = stream.read(size - 4)
        while stream.tell() + 8 <= end:
            cid, length = struct.unpack("<4sI", stream.read(8))
            if cid == b"smpl":
                chunks["smpl"] = (stream.tell(), length)
                stream.seek(length, os.SEEK_CUR)
            else:
                chunks[cid.decode("latin-1")] = stream.read(length)
        stream.seek(end)
    missing = {"INFO", "smpl", "phdr", "pbag", "pmod", "pgen", "inst", "ibag", "imod", "igen", "shdr"} - chunks.keys()
    if missing:
        raise SoundfontError(f"{path}: missing chunks {sorted(missing)}")
    return chunks


def _sample_headers(shdr: bytes) -> list[tuple]:
    """Every sample header but the terminal one."""
    return [_SHDR.unpack_from(shdr, at) for at in range(0, len(shdr) - _SHDR.size, _SHDR.size)]


def _samples_of(chunks: dict[str, bytes], presets: set[tuple[int, int]]) -> set[int]:
    """Indices of the samples the instruments of ``presets`` play."""

    def records(cid, fmt):
        s = struct.Struct(fmt)
        return [s.unpack_from(chunks[cid], at) for at in range(0, len(chunks[cid]) - s.size + 1, s.size)]

    phdr, inst = records("phdr", "<20sHHHIII"), records("inst", "<20sH")
    pbag, ibag = records("pbag", "<HH"), records("ibag", "<HH")
    pgen, igen = records("pgen", "<HH"), records("igen", "<HH")

    def operands(bags, gens, first, last, operator):
        for bag in range(first, last):
            for op, amount in gens[bags[bag][0] : bags[bag + 1][0]]:
                if op == operator:
                    yield amount

    samples = set()
    for p in range(len(phdr) - 1):
        name, program, bank, bag = phdr[p][:4]
        if (bank, program) in presets:
            for i in operands(pbag, pgen, bag, phdr[p + 1][3], INSTRUMENT):
                samples.update(operands(ibag, igen, inst[i][1], inst[i + 1][1], SAMPLE_ID))
    return samples


def _decoded(path: str, chunks: dict, smpl: bytes, presets: set[tuple[int, int]]) -> bytes:
    """An sf2 file: ``chunks`` with the samples of ``presets`` decoded and the others silent."""
    shdr = chunks["shdr"]
    used = _samples_of(chunks, presets)
    pcm = [np.zeros(SILENCE + PADDING, np.int16)]
    at = len(pcm[0])
    headers = []
    for index, (name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind) in enumerate(_sample_headers(shdr)):
        if index not in used:
            start, end, loop_start, loop_end = 0, SILENCE, 8, SILENCE - 8
        else:
            if kind & VORBIS:  # byte offsets of the stream; loop points relative to its first frame
                label = name.split(b"\0")[0].decode("latin-1")
                frames = decode_vorbis(smpl[start:end], f"{path}: sample {index} ({label})")
            else:  # an uncompressed sample beside compressed ones: absolute frame offsets
                frames = np.frombuffer(smpl, "<i2", end - start, 2 * start)
                loop_start, loop_end = loop_start - start, loop_end - start
            start, end = at, at + len(frames)
            loop_start, loop_end = at + loop_start, at + loop_end
            pcm += [frames, np.zeros(PADDING, np.int16)]
            at = end + PADDING
        headers.append(_SHDR.pack(name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind & ~VORBIS))
    headers.append(shdr[len(shdr) - _SHDR.size :])  # the terminal record
    info = _sf2_info(chunks["INFO"])
    sdta = _chunk("smpl", np.concatenate(pcm).astype("<i2").tobytes())
    pdta = b"".join(_chunk(c, b"".join(headers) if c == "shdr" else chunks[c]) for c in ("phdr", "pbag", "pmod", "pgen", "inst", "ibag", "imod", "igen", "shdr"))
    body = b"sfbk" + _list("INFO", info) + _list("sdta", sdta) + _list("pdta", pdta)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _sf2_info(info: bytes) -> bytes:
    """``INFO`` with its version (``ifil``) set to 2.04, the other sub-chunks unchanged."""
    out, at = [], 0
    while at + 8 <= len(info):
        cid, length = info[at : at + 4], struct.unpack_from("<I", info, at + 4)[0]
        body = struct.pack("<HH", 2, 4) if cid == b"ifil" else info[at + 8 : at + 8 + length]
        out.append(cid + struct.pack("<I", len(body)) + body)
        at += 8 + length
    return b"".join(out)


def _chunk(cid: str, body: bytes) -> bytes:
    return cid.encode("latin-1") + struct.pack("<I", len(body)) + body


def _list(kind: str, body: bytes) -> bytes:
    return _chunk("LIST", kind.encode("latin-1") + body)


class _Info(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


_SFM_READ = 0x10
_sndfile = None


def _lib():
    """The libsndfile of the soundfile wheel (the one this process loaded first under its soname),
    which FluidSynth decodes with too (``synth.py`` imports soundfile before fluidsynth)."""
    global _sndfile
    if _sndfile is None:
        lib = ctypes.CDLL("libsndfile.so.1")
        lib.sf_open_fd.restype = ctypes.c_void_p
        lib.sf_open_fd.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Info), ctypes.c_int]
        lib.sf_readf_short.restype = ctypes.c_int64
        lib.sf_readf_short.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        lib.sf_close.argtypes = [ctypes.c_void_p]
        lib.sf_strerror.restype = ctypes.c_char_p
        lib.sf_strerror.argtypes = [ctypes.c_void_p]
        lib.sf_version_string.restype = ctypes.c_char_p
        _sndfile = lib
    return _sndfile


def sndfile_version() -> str:
    return _lib().sf_version_string().decode()


def decode_vorbis(stream: bytes, what: str) -> np.ndarray:
    """16-bit mono frames of an Ogg Vorbis ``stream``, decoded as FluidSynth does (``sf_readf_short``)."""
    lib = _lib()
    fd = os.memfd_create("sf3-sample")
    try:
        with open(fd, "wb", closefd=False) as memory:
            memory.write(stream)
        os.lseek(fd, 0, os.SEEK_SET)
        info = _Info()
        handle = lib.sf_open_fd(fd, _SFM_READ, ctypes.byref(info), 0)
        if not handle:
            raise SoundfontError(f"{what}: {lib.sf_strerror(None).decode()}")
        try:
            if info.channels != 1:
                raise SoundfontError(f"{what}: {info.channels} channels, FluidSynth plays mono samples only")
            frames = np.empty(info.frames, np.int16)
            if lib.sf_readf_short(handle, frames.ctypes.data, info.frames) < info.frames:
                raise SoundfontError(f"{what}: {lib.sf_strerror(handle).decode()}")
            return frames
        finally:
            lib.sf_close(handle)
    finally:
        os.close(fd)
