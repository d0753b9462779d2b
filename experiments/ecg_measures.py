"""ECG measurements that share no code with the generator: the band-pass and R-peak detection of
``synth_defects.py``, ``synth_baseline.py`` and the generator's unit tests (``tests/test_synth.py``).
"""
from __future__ import annotations

import numpy as np
import scipy.signal


def bandpass(x: np.ndarray, fs: float, low: float, high: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth band-pass of (leads, N) ``x`` at ``fs`` Hz (the upper edge capped below Nyquist)."""
    sos = scipy.signal.butter(2, [low, min(high, 0.45 * fs)], btype="band", fs=fs, output="sos")
    return scipy.signal.sosfiltfilt(sos, x, axis=-1)


def r_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """Power of the 5-20 Hz band summed over leads, smoothed; peaks at least 270 ms apart."""
    energy = (bandpass(x, fs, 5.0, 20.0) ** 2).sum(axis=0)
    width = max(1, int(0.06 * fs))
    energy = np.convolve(energy, np.ones(width) / width, mode="same")
    peaks, props = scipy.signal.find_peaks(energy, distance=int(0.27 * fs), height=0.0)
    heights = np.sort(props["peak_heights"])
    level = 0.25 * np.median(heights[-max(1, len(heights) // 4) :])  # robust to a few huge beats or artefacts
    return peaks[props["peak_heights"] > level]
