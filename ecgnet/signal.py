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


def prepare_input(signal: np.ndarray, config) -> np.ndarray:
    """The input levers of ``config`` (a ``config.Config``) on a (leads, N) mV signal at ``TARGET_FS``, in training and inference.

    ``bandpass_low_hz`` / ``bandpass_high_hz``: a zero-phase ``BANDPASS_ORDER`` Butterworth
    with these edges (0 leaves an edge open; skipped on records too short for the filter's
    edge padding). ``lead_standardisation = "record"``: each lead minus its mean, over its
    sd (a flat lead stays 0). Returns float32; a new array when a lever is on.
    """
    sos = bandpass_sos(config.bandpass_low_hz, config.bandpass_high_hz)
    out = np.asarray(signal, dtype=np.float32)
    if sos is not None and out.shape[1] > 3 * (2 * BANDPASS_ORDER + 1) * 2:
        out = scipy.signal.sosfiltfilt(sos, out, axis=1).astype(np.float32)
    if config.lead_standardisation == "record" and out.shape[1] > 1:
        sd = out.std(axis=1, keepdims=True)
        out = ((out - out.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    return out


# --- training only: augmentation and crops, drawn from the batch's seeded generator ---


def stretch(signal: np.ndarray, config, rng: np.random.Generator) -> np.ndarray:
    """The record (leads, N) time-stretched by a factor uniform in 1 ± ``config.augment_stretch`` (linear interpolation; unchanged when 0)."""
    if config.augment_stretch <= 0 or signal.shape[1] < 2:
        return signal
    factor = rng.uniform(1 - config.augment_stretch, 1 + config.augment_stretch)
    n = signal.shape[1]
    positions = np.arange(max(2, int(round(n * factor)))) / factor
    return np.stack([np.interp(positions, np.arange(n), lead) for lead in signal]).astype(np.float32)


def augment(window: np.ndarray, config, rng: np.random.Generator) -> np.ndarray:
    """Amplitude scaling, baseline wander, noise and lead dropout of one (leads, L) mV training window, as configured.

    Each lead scaled by exp(N(0, ``augment_amplitude``)); a 0.05-0.5 Hz sine of
    ``augment_wander_mv`` per lead; white noise of sd ``augment_noise_mv``; each lead zeroed
    with probability ``augment_lead_dropout``. All drawn from ``rng`` (the batch's seed).
    """
    leads, length = window.shape
    out = window
    if config.augment_amplitude > 0:
        out = out * np.exp(rng.normal(0.0, config.augment_amplitude, (leads, 1)))
    if config.augment_wander_mv > 0:
        t = np.arange(length) / TARGET_FS
        hz, phase = rng.uniform(0.05, 0.5, (leads, 1)), rng.uniform(0, 2 * np.pi, (leads, 1))
        out = out + config.augment_wander_mv * np.sin(2 * np.pi * hz * t + phase)
    if config.augment_noise_mv > 0:
        out = out + rng.normal(0.0, config.augment_noise_mv, (leads, length))
    if config.augment_lead_dropout > 0:
        out = out * (rng.random((leads, 1)) >= config.augment_lead_dropout)
    return np.asarray(out, dtype=np.float32)


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
