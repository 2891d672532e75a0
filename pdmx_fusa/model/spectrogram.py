"""MSMD's log-frequency spectrogram, in numpy: what madmom computed for Dorfer et al. (2018).

22.05 kHz mono, frames of 2048 samples (Hann window) every 1102.5 samples (20 frames/s), frame
``i`` centred on sample ``int(i * hop)`` with zeros beyond the signal, magnitude of the 1024
non-negative FFT bins, a logarithmic triangular filterbank of 16 bands per octave from 30 Hz to
6 kHz (referenced to 440 Hz, normalised filters, duplicate bins dropped: 92 bands), then
``log10(1 + x)``.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 22050
FRAME_SIZE = 2048
FPS = 20
BANDS_PER_OCTAVE = 16
FMIN, FMAX, FREF = 30.0, 6000.0, 440.0


def log_frequencies(bands_per_octave: int = BANDS_PER_OCTAVE, fmin: float = FMIN, fmax: float = FMAX,
                    fref: float = FREF) -> np.ndarray:
    """Frequencies (Hz) spaced ``bands_per_octave`` per octave around ``fref``, within [fmin, fmax]."""
    left = np.floor(np.log2(fmin / fref) * bands_per_octave)
    right = np.ceil(np.log2(fmax / fref) * bands_per_octave)
    frequencies = fref * 2.0 ** (np.arange(left, right) / bands_per_octave)
    frequencies = frequencies[np.searchsorted(frequencies, fmin):]
    return frequencies[: np.searchsorted(frequencies, fmax, "right")]


def filterbank(sample_rate: int = SAMPLE_RATE, frame_size: int = FRAME_SIZE) -> np.ndarray:
    """The logarithmic triangular filterbank, shape (frame_size // 2, 92) for the defaults.

    Each log frequency goes to its nearest FFT bin (duplicates dropped); consecutive bin triples
    (start, centre, stop) make one triangle normalised to sum 1 (a triple narrower than 2 bins
    becomes the single bin ``start``).
    """
    bin_frequencies = np.fft.fftfreq(frame_size, 1.0 / sample_rate)[: frame_size // 2]
    frequencies = log_frequencies()
    index = np.clip(bin_frequencies.searchsorted(frequencies), 1, len(bin_frequencies) - 1)
    index -= frequencies - bin_frequencies[index - 1] < bin_frequencies[index] - frequencies
    bins = np.unique(index)
    bank = np.zeros((len(bin_frequencies), len(bins) - 2), dtype=np.float32)
    for band, (start, centre, stop) in enumerate(zip(bins[:-2], bins[1:-1], bins[2:])):
        if stop - start < 2:
            centre, stop = start, start + 1
        triangle = np.concatenate([np.linspace(0, 1, centre - start, endpoint=False),
                                   np.linspace(1, 0, stop - centre, endpoint=False)])
        bank[start:stop, band] = triangle / triangle.sum()
    return bank


_BANK = filterbank()
_WINDOW = np.hanning(FRAME_SIZE).astype(np.float32)
N_BANDS = _BANK.shape[1]
# The filterbank as each band's (bin, weight) list, applied with a gather and a sum per band: a
# dense product would call BLAS, whose threads cost 25x more than the work on a busy machine.
_BIN_INDEX = np.concatenate([np.flatnonzero(_BANK[:, band]) for band in range(N_BANDS)])
_BIN_WEIGHT = np.concatenate([_BANK[np.flatnonzero(_BANK[:, band]), band] for band in range(N_BANDS)])
_BAND_START = np.cumsum([0] + [np.count_nonzero(_BANK[:, band]) for band in range(N_BANDS - 1)])
_BINS = int(_BIN_INDEX.max()) + 1  # the bins above the last filter add nothing


def frame_count(n_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of a signal of ``n_samples``: ceil(n_samples / hop)."""
    return int(np.ceil(n_samples / (sample_rate / FPS)))


def spectrogram(signal: np.ndarray, sample_rate: int = SAMPLE_RATE, start: int = 0, frames: int | None = None) -> np.ndarray:
    """MSMD's log-frequency spectrogram of ``signal`` (or of frames ``start .. start + frames``).

    Parameters
    ----------
    signal : float array (samples,), mono, values in [-1, 1]
    sample_rate : Hz; must be 22050 (MSMD's rate)
    start : first frame (may be negative or beyond the end: frames there hold zeros)
    frames : number of frames; default all ``frame_count(len(signal))`` from ``start``

    Returns
    -------
    float32 array (92, frames): bands from low to high frequency, 20 frames per second
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"spectrogram: audio at {sample_rate} Hz, MSMD's spectrogram needs {SAMPLE_RATE} Hz")
    if frames is None:
        frames = frame_count(len(signal)) - start
    hop = sample_rate / FPS
    first = (np.arange(start, start + frames) * hop).astype(np.int64) - FRAME_SIZE // 2
    low, high = (int(first[0]), int(first[-1]) + FRAME_SIZE) if frames else (0, 0)
    signal = np.asarray(signal, dtype=np.float32)
    if low < 0 or high > len(signal):  # zeros beyond the signal
        segment = np.zeros(high - low, dtype=np.float32)
        inside = slice(max(low, 0), max(min(high, len(signal)), max(low, 0)))
        segment[inside.start - low: inside.stop - low] = signal[inside]
    else:
        segment = signal[low:high]
    chunk = segment[(first - low)[:, None] + np.arange(FRAME_SIZE)[None, :]]
    magnitude = np.abs(np.fft.rfft(chunk * _WINDOW, axis=1)[:, :_BINS]).astype(np.float32)
    bands = np.add.reduceat(magnitude[:, _BIN_INDEX] * _BIN_WEIGHT, _BAND_START, axis=1)
    return np.log10(1.0 + bands).T.astype(np.float32)
