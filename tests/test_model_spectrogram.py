"""MSMD's spectrogram (pdmx_fusa.model.spectrogram) against its definition, computed here by hand."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
from pdmx_fusa.model import spectrogram as spec  # noqa: E402


def by_definition(signal: np.ndarray, frame: int) -> np.ndarray:
    """One frame, straight from the definition: the 2048 samples centred on int(frame * 22050 / 20)
    (zeros outside), Hann window, DFT bins 0..1023 as a sum, the filterbank, log10(1 + x)."""
    centre = int(frame * 22050 / 20)
    samples = np.array([signal[n] if 0 <= n < len(signal) else 0.0 for n in range(centre - 1024, centre + 1024)])
    windowed = samples * np.hanning(2048)
    k, n = np.arange(1024)[:, None], np.arange(2048)[None, :]
    magnitude = np.abs((windowed[None, :] * np.exp(-2j * np.pi * k * n / 2048)).sum(axis=1))
    return np.log10(1 + magnitude @ spec.filterbank())


def test_filterbank_has_92_normalised_triangles_16_per_octave():
    bank = spec.filterbank()
    assert bank.shape == (1024, 92) and spec.N_BANDS == 92
    assert np.allclose(bank.sum(axis=0), 1.0, atol=1e-6)
    peaks = bank.argmax(axis=0) * 22050 / 2048  # each triangle's centre, Hz
    assert np.all(np.diff(peaks) > 0)
    # above the low bands merged by the FFT's resolution, the centres are 1/16 octave apart
    high = peaks[peaks > 1000]
    assert np.allclose(np.log2(high[1:] / high[:-1]), 1 / 16, atol=0.02)
    assert 30 <= peaks[0] and peaks[-1] <= 6000
    frequencies = spec.log_frequencies()
    assert frequencies[0] >= 30 and frequencies[-1] <= 6000
    assert np.allclose(np.log2(frequencies[1:] / frequencies[:-1]), 1 / 16)
    assert np.any(np.isclose(frequencies, 440.0))


def test_spectrogram_matches_the_definition():
    rng = np.random.default_rng(0)
    signal = (rng.standard_normal(22050 * 2) * 0.1).astype(np.float32)
    full = spec.spectrogram(signal)
    assert full.shape == (92, int(np.ceil(len(signal) / 1102.5))) == (92, 40) and full.dtype == np.float32
    for frame in (0, 1, 17, 39):
        assert np.allclose(full[:, frame], by_definition(signal, frame), atol=2e-4)
    part = spec.spectrogram(signal, start=-3, frames=10)  # frames before the signal hold zeros only
    assert np.all(part[:, :2] == 0) and np.allclose(part[:, 3:], full[:, :7], atol=1e-6)


def test_a_sine_lights_its_own_band():
    t = np.arange(22050) / 22050
    for hz in (220.0, 440.0, 1760.0):
        frame = spec.spectrogram(np.sin(2 * np.pi * hz * t).astype(np.float32))[:, 10]
        peak_hz = spec.filterbank()[:, frame.argmax()].argmax() * 22050 / 2048
        assert abs(np.log2(peak_hz / hz)) < 1 / 16


def test_other_rates_are_refused():
    with pytest.raises(ValueError, match="22050"):
        spec.spectrogram(np.zeros(1000, np.float32), 44100)
