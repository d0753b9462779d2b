"""Resampling, training crops and inference windows."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ecgnet.signal import OVERLAP, TARGET_FS, WINDOW, inference_windows, num_windows, padded_length, random_crop_or_pad, resample


def _sine(freq: float, fs: float, seconds: float, leads: int = 12) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return np.tile(np.sin(2 * np.pi * freq * t), (leads, 1))


@pytest.mark.parametrize("fs", [257, 300, 500, 1000, 128, 499.7, 360])
def test_resample_keeps_the_seed_length_and_an_in_band_tone(fs):
    x = _sine(5.0, fs, 10.0)
    y = resample(x, fs)
    assert y.dtype == np.float32
    assert y.shape == (12, int(x.shape[1] / fs * TARGET_FS))
    expected = np.sin(2 * np.pi * 5.0 * np.arange(y.shape[1]) / TARGET_FS)
    middle = slice(50, -50)  # away from the edges
    assert np.max(np.abs(y[3, middle] - expected[middle])) < 0.02


def test_resample_removes_content_above_the_new_nyquist():
    """200 Hz at 1000 Hz would alias to 57 Hz with linear interpolation; the polyphase filter removes it."""
    y = resample(_sine(200.0, 1000, 4.0), 1000)
    assert np.sqrt(np.mean(y[:, 100:-100] ** 2)) < 0.01


def test_resample_identity_and_dc_edges():
    x = np.random.default_rng(0).normal(size=(12, 1000)).astype(np.float32)
    assert np.array_equal(resample(x, 257), x)
    offset = np.full((12, 5000), 3.0)
    y = resample(offset, 500)
    assert np.allclose(y, 3.0, atol=1e-3)  # no ringing from zero padding at the ends


def test_resample_rejects_bad_input():
    with pytest.raises(ValueError):
        resample(np.zeros(10), 500)
    with pytest.raises(ValueError):
        resample(np.zeros((12, 10)), 0)


def test_random_crop_longer_signal_is_a_contiguous_slice():
    x = np.arange(12 * 10000, dtype=np.float32).reshape(12, 10000)
    rng = np.random.default_rng(1)
    starts = set()
    for _ in range(20):
        w = random_crop_or_pad(x, WINDOW, rng)
        assert w.shape == (12, WINDOW)
        start = int(w[0, 0])
        assert np.array_equal(w, x[:, start:start + WINDOW])
        starts.add(start)
    assert len(starts) > 1  # actually random


def test_random_pad_shorter_signal_keeps_it_whole_at_a_random_offset():
    x = np.ones((12, 1000), dtype=np.float32)
    rng = np.random.default_rng(2)
    offsets = set()
    for _ in range(20):
        w = random_crop_or_pad(x, WINDOW, rng)
        assert w.shape == (12, WINDOW) and w.sum() == 12 * 1000
        nonzero = np.flatnonzero(w[0])
        assert nonzero[-1] - nonzero[0] == 999
        offsets.add(int(nonzero[0]))
    assert len(offsets) > 1
    exact = np.ones((12, WINDOW), dtype=np.float32)
    assert np.array_equal(random_crop_or_pad(exact, WINDOW, rng), exact)


def test_random_crop_is_reproducible_with_a_seed():
    x = np.random.default_rng(0).normal(size=(12, 9000)).astype(np.float32)
    a = random_crop_or_pad(x, WINDOW, np.random.default_rng(7))
    b = random_crop_or_pad(x, WINDOW, np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_inference_windows_short_signal_is_right_padded():
    x = np.ones((12, 1000), dtype=np.float32)
    w = inference_windows(x)
    assert w.shape == (1, 12, WINDOW)
    assert w[0, :, :1000].all() and not w[0, :, 1000:].any()


def test_inference_windows_exact_length_is_one_window():
    x = np.random.default_rng(0).normal(size=(12, WINDOW)).astype(np.float32)
    w = inference_windows(x)
    assert w.shape == (1, 12, WINDOW) and np.array_equal(w[0], x)


@pytest.mark.parametrize("samples", [WINDOW + 1, 2 * WINDOW, 30 * 60 * TARGET_FS])
def test_inference_windows_long_signal(samples):
    """First window = first 4096 samples; last ends at the signal's end; every sample covered; seed's P."""
    x = np.tile(np.arange(samples, dtype=np.float32), (12, 1))
    w = inference_windows(x)
    p = math.ceil((samples - WINDOW) / (WINDOW - OVERLAP)) + 1
    assert w.shape == (p, 12, WINDOW) == (num_windows(samples), 12, WINDOW)
    assert np.array_equal(w[0], x[:, :WINDOW])
    assert w[-1, 0, -1] == samples - 1
    starts = w[:, 0, 0].astype(int)
    assert np.all(np.diff(starts[:-1]) == WINDOW - OVERLAP)
    assert np.all(starts[1:] - starts[:-1] <= WINDOW - OVERLAP)  # consecutive windows overlap by >= OVERLAP
    assert np.all(np.diff(w[:, 0, :], axis=1) == 1)  # each window is contiguous real data, no padding


def test_thirty_minute_record_count():
    assert num_windows(30 * 60 * TARGET_FS) == math.ceil((462600 - 4096) / 3840) + 1 == 121


def test_stride_padding_rounds_a_short_record_up_to_the_stride_and_never_past_the_window():
    assert [padded_length(n, 4096, 32) for n in (1, 32, 33, 2570, 4090, 4096)] == [32, 32, 64, 2592, 4096, 4096]
    assert padded_length(2570, 4096) == 4096  # multiple 0: the whole window, as the seed
    x = np.ones((12, 2570), dtype=np.float32)
    w = inference_windows(x, multiple=32)
    assert w.shape == (1, 12, 2592) and w[0, :, :2570].min() == 1 and not w[0, :, 2570:].any()
    assert inference_windows(np.ones((12, 5000), np.float32), multiple=32).shape == (2, 12, WINDOW)  # long: unchanged
