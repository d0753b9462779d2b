"""The network's inputs on plain numpy arrays: resampling, the input levers, training augmentation and crops,
inference windows, and the age/sex vector.

Everything here takes and returns ``(leads, samples)`` arrays and knows nothing
about files, so training, inference and the cache share one implementation.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import scipy.signal
from scipy.signal import firwin, resample_poly

TARGET_FS = 257  # Hz: the seed's rate (INCART's native rate)
WINDOW = 4096  # samples per network input, about 15.9 s at 257 Hz
OVERLAP = 256  # samples shared by consecutive inference windows
BANDPASS_ORDER = 3  # the input band-pass: Butterworth, run forward and backward (zero phase)
STANDARDISATIONS = ("none", "record")
PREPARED_BY = ("bandpass_low_hz", "bandpass_high_hz", "lead_standardisation")  # the settings prepare_input reads
DEMOGRAPHIC_FEATURES = 5  # encode_demographics: age/100, age missing, female, male, sex known

# Rate ratios are approximated by fractions p/q with q at most this bound (exact
# for every integer rate up to it); the error |ratio - p/q| < 1/(q * 2001) is far
# below any clinical effect, and the cached filter stays at most 40,001 taps.
_MAX_DENOMINATOR = 2000


def resampled_length(num_samples: int, fs: float, target_fs: float = TARGET_FS) -> int:
    """The seed's length convention, ``int(N / fs * target_fs)``, kept so windows line up."""
    return int(num_samples / fs * target_fs)


@lru_cache(maxsize=64)
def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """Kaiser-windowed low-pass at the lower Nyquist, designed once per rate pair."""
    max_rate = max(up, down)
    return firwin(20 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)


def resample(signal: np.ndarray, fs: float, target_fs: float = TARGET_FS) -> np.ndarray:
    """Resample each lead from ``fs`` to ``target_fs`` Hz, returning float32 ``(leads, int(N/fs*target_fs))``.

    Why polyphase rather than the seed's linear interpolation: going from 500 or
    1000 Hz down to 257 Hz, interpolation folds everything above 128.5 Hz
    (pacing spikes, EMG, mains harmonics) back into the band the network sees;
    ``resample_poly`` low-pass filters first (anti-aliasing) and costs well
    under a millisecond per 10-s record because its filter is designed once
    per rate pair and cached. The ratio ``target_fs / fs`` is approximated by a
    fraction (exact for every integer rate), the edges are padded with the
    signal's own trend (``padtype='line'``) so a DC offset does not ring, and
    the result is cut or zero-extended to the seed's length convention so the
    window arithmetic is unchanged.
    """
    signal = np.asarray(signal)
    if signal.ndim != 2:
        raise ValueError(f"expected a (leads, samples) array, got shape {signal.shape}")
    if not (math.isfinite(fs) and fs > 0 and math.isfinite(target_fs) and target_fs > 0):
        raise ValueError(f"sampling rates must be positive, got fs={fs}, target_fs={target_fs}")
    length = resampled_length(signal.shape[1], fs, target_fs)
    ratio = Fraction(target_fs / fs).limit_denominator(_MAX_DENOMINATOR)
    if ratio == 1 or signal.shape[1] == 0:
        out = signal.astype(np.float32)
    else:
        up, down = ratio.numerator, ratio.denominator
        out = resample_poly(signal.astype(np.float32), up, down, axis=1, window=_polyphase_filter(up, down), padtype="line")
    if out.shape[1] >= length:
        return np.ascontiguousarray(out[:, :length], dtype=np.float32)
    return np.pad(out.astype(np.float32), ((0, 0), (0, length - out.shape[1])))


def bandpass_sos(low_hz: float, high_hz: float) -> np.ndarray | None:
    """The input band-pass at ``TARGET_FS`` as second-order sections ``(sections, 6)``: a ``BANDPASS_ORDER`` Butterworth
    with edges ``low_hz``/``high_hz`` (0 leaves that edge open: a high-pass or a low-pass); None when both are 0."""
    if low_hz <= 0 and high_hz <= 0:
        return None
    kind, edges = ("bandpass", [low_hz, high_hz]) if low_hz > 0 and high_hz > 0 else ("highpass", low_hz) if low_hz > 0 else ("lowpass", high_hz)
    return scipy.signal.butter(BANDPASS_ORDER, edges, btype=kind, fs=TARGET_FS, output="sos")


def input_recipe(config) -> dict:
    """What ``prepare_input`` does under ``config`` (a ``config.Config``): the settings it reads (``PREPARED_BY``) and the
    filter's order, or {} when it changes nothing. Equal recipes give equal prepared signals: the record cache keys its
    prepared copies by it (so a change to what ``prepare_input`` computes must bump ``cache.CACHE_VERSION``)."""
    settings = {key: getattr(config, key) for key in PREPARED_BY}
    if settings["bandpass_low_hz"] <= 0 and settings["bandpass_high_hz"] <= 0 and settings["lead_standardisation"] == "none":
        return {}
    return {**settings, "bandpass_order": BANDPASS_ORDER}


def prepare_input(signal: np.ndarray, config) -> np.ndarray:
    """The input levers of ``config`` (a ``config.Config``) on a (leads, N) mV signal at ``TARGET_FS``, in training and inference.

    ``bandpass_low_hz`` / ``bandpass_high_hz``: a zero-phase ``BANDPASS_ORDER`` Butterworth
    with these edges (0 leaves an edge open; skipped on records too short for the filter's
    edge padding). ``lead_standardisation = "record"``: each lead minus its mean, over its
    sd (a flat lead stays 0). Returns float32; a new array when a lever is on. Applied to the
    whole record, once (training reads it from the record cache, ``cache.prepare_inputs``).
    """
    sos = bandpass_sos(config.bandpass_low_hz, config.bandpass_high_hz)
    out = np.asarray(signal, dtype=np.float32)
    if sos is not None and out.shape[1] > 3 * (2 * BANDPASS_ORDER + 1) * 2:
        out = scipy.signal.sosfiltfilt(sos, out, axis=1).astype(np.float32)
    if config.lead_standardisation == "record" and out.shape[1] > 1:
        sd = out.std(axis=1, keepdims=True)
        out = ((out - out.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    return out


# --- training only: crops and augmentation, drawn from the batch's seeded generator ---


def stretch_factors(config, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` time-stretch factors, uniform in 1 ± ``config.augment_stretch``; ones, drawing nothing, when it is 0."""
    if config.augment_stretch <= 0:
        return np.ones(count)
    return rng.uniform(1 - config.augment_stretch, 1 + config.augment_stretch, count)


def cut_window(signal: np.ndarray, start: int, out: np.ndarray, factor: float = 1.0) -> None:
    """One training window of ``signal`` (leads, N) into ``out`` (leads, L) float32, time-stretched by ``factor``.

    The record stretched to ``M = max(2, round(N * factor))`` samples (linear interpolation;
    ``M = N`` unstretched) gives ``out = stretched[:, start:start + L]`` when ``M >= L``, else
    the stretched record zero-padded from ``start``. ``start`` is clamped to ``|M - L|`` (the
    epoch's plan drew it for the unstretched length). Only the samples the window needs are
    read and interpolated, so a 30-minute record costs what a 10-s one does.
    """
    samples, window = signal.shape[1], out.shape[1]
    stretched = samples if factor == 1.0 or samples < 2 else max(2, round(samples * factor))
    start = min(start, abs(stretched - window))
    if stretched >= window:
        first, into = start, slice(0, window)
    else:
        out[:] = 0
        first, into = 0, slice(start, start + stretched)
    count = into.stop - into.start
    if stretched == samples:  # no stretch: a plain copy
        out[:, into] = signal[:, first:first + count]
        return
    positions = np.minimum(np.arange(first, first + count) / factor, samples - 1)
    below = np.minimum(positions.astype(np.int64), samples - 2)
    weight = (positions - below).astype(np.float32)
    piece = np.asarray(signal[:, below[0]:below[-1] + 2])  # one contiguous read out of a memory map
    below -= below[0]
    left, right = np.take(piece, below, axis=1), np.take(piece, below + 1, axis=1)
    right -= left
    right *= weight
    right += left
    out[:, into] = right


def augment(windows: np.ndarray, config, rng: np.random.Generator) -> None:
    """Amplitude scaling, baseline wander, noise and lead dropout of a batch of (B, leads, L) mV float32 windows, in place.

    Each lead of each window scaled by exp(N(0, ``augment_amplitude``)); a 0.05-0.5 Hz sine of
    amplitude ``augment_wander_mv`` and uniform phase per lead; white Gaussian noise of sd
    ``augment_noise_mv``; each lead zeroed with probability ``augment_lead_dropout``. Drawn from
    ``rng`` (the batch's seed): the per-lead values of the whole batch in that order, then each
    window's noise; a setting of 0 draws nothing. Window by window, so that the passes over a
    window stay in the CPU's cache.
    """
    count, leads, length = windows.shape
    gains = np.exp(rng.normal(0.0, config.augment_amplitude, (count, leads, 1))) if config.augment_amplitude > 0 else None
    if config.augment_wander_mv > 0:
        hz, phase = rng.uniform(0.05, 0.5, (count, leads, 1)), rng.uniform(0, 2 * np.pi, (count, leads, 1))
        radians_per_sample, phase = (2 * np.pi * hz / TARGET_FS).astype(np.float32), phase.astype(np.float32)
    kept = rng.random((count, leads, 1)) >= config.augment_lead_dropout if config.augment_lead_dropout > 0 else None
    samples, scratch = np.arange(length, dtype=np.float32), np.empty((leads, length), dtype=np.float32)
    for i, window in enumerate(windows):
        if gains is not None:
            window *= gains[i].astype(np.float32)
        if config.augment_wander_mv > 0:
            np.multiply(radians_per_sample[i], samples, out=scratch)
            scratch += phase[i]
            np.sin(scratch, out=scratch)
            scratch *= config.augment_wander_mv
            window += scratch
        if config.augment_noise_mv > 0:
            _normal(rng, config.augment_noise_mv, scratch)
            window += scratch
        if kept is not None:
            window *= kept[i]


def _normal(rng: np.random.Generator, sd: float, out: np.ndarray) -> None:
    """Fill ``out`` (float32, an even number of elements) with normal samples of mean 0 and sd ``sd``: the Box-Muller
    transform of float32 uniforms, about 3x as fast as ``Generator.standard_normal`` (bench/RESULTS.md, "Training
    loader"); the float32 uniforms cut the tails at 5.8 sd."""
    pairs = out.reshape(2, -1)
    uniform = rng.random(pairs.shape, dtype=np.float32)
    radius = np.log1p(-uniform[0])  # uniform[0] < 1: finite
    radius *= -2 * sd * sd
    np.sqrt(radius, out=radius)
    angle = uniform[1]
    angle *= np.float32(2 * np.pi)
    np.cos(angle, out=pairs[0])
    np.sin(angle, out=pairs[1])
    pairs *= radius


def random_crop_or_pad(signal: np.ndarray, length: int = WINDOW, rng: np.random.Generator | None = None) -> np.ndarray:
    """A training window: a random crop if the record is longer, zero-padding at a random offset if shorter.

    ``rng`` should be the caller's seeded generator (a fresh unseeded one is used
    when omitted). Always returns a new float32 ``(leads, length)`` array.
    """
    rng = np.random.default_rng() if rng is None else rng
    signal = np.asarray(signal, dtype=np.float32)
    leads, samples = signal.shape
    if samples >= length:
        start = int(rng.integers(0, samples - length + 1))
        return signal[:, start:start + length].copy()
    out = np.zeros((leads, length), dtype=np.float32)
    start = int(rng.integers(0, length - samples + 1))
    out[:, start:start + samples] = signal
    return out


# --- inference: overlapping windows over a whole record ---


def num_windows(samples: int, length: int = WINDOW, overlap: int = OVERLAP) -> int:
    """``P = ceil((L - length) / (length - overlap)) + 1`` for long records, 1 otherwise."""
    if samples <= length:
        return 1
    return math.ceil((samples - length) / (length - overlap)) + 1


def padded_length(samples: int, length: int = WINDOW, multiple: int = 0) -> int:
    """The window a record of ``samples`` is zero-padded to: ``length``, or with ``multiple`` > 0 (the ``pad_to
    = "stride"`` setting) the smallest multiple of ``multiple`` that holds it, never more than ``length``."""
    if multiple <= 0:
        return length
    return min(length, max(multiple, math.ceil(samples / multiple) * multiple))


def inference_windows(signal: np.ndarray, length: int = WINDOW, overlap: int = OVERLAP, multiple: int = 0) -> np.ndarray:
    """Overlapping windows ``(P, leads, length)`` covering the whole record, for averaging outputs.

    A record no longer than ``length`` gives one window, right-zero-padded to
    ``length`` (or to ``padded_length(samples, length, multiple)``). A
    longer one gives ``P`` windows (see ``num_windows``) starting every
    ``length - overlap`` samples from sample 0, so the first window is the first
    ``length`` samples; the last window is shifted back to end exactly at the
    signal's end, so no window contains padding (it then overlaps its
    neighbour by at least ``overlap`` samples).
    """
    if not 0 <= overlap < length:
        raise ValueError(f"overlap must be in [0, length), got overlap={overlap}, length={length}")
    signal = np.asarray(signal, dtype=np.float32)
    leads, samples = signal.shape
    if samples <= length:
        out = np.zeros((1, leads, padded_length(samples, length, multiple)), dtype=np.float32)
        out[0, :, :samples] = signal
        return out
    count = num_windows(samples, length, overlap)
    starts = [k * (length - overlap) for k in range(count - 1)] + [samples - length]
    return np.stack([signal[:, s:s + length] for s in starts])


# --- the network's second input: age and sex ---


def encode_demographics(age: float | None, sex: str | None) -> np.ndarray:
    """The age/sex input of one record, float32 ``(5,)``.

    ``[age / 100 (0 when missing), age missing, female, male, sex known]``; ``age`` in
    years (None or NaN when the header has none), ``sex`` "Female", "Male" or None.
    """
    known_age = age is not None and math.isfinite(age)
    return np.array(
        [age / 100.0 if known_age else 0.0, 0.0 if known_age else 1.0, sex == "Female", sex == "Male", sex in ("Female", "Male")],
        dtype=np.float32,
    )
