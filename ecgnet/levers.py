"""Recipe levers (issue 16, item 3): each a configuration key, all off by default.

None of them is in a preset: a lever is adopted only once leave-one-source-out
(``cv --by-source``) has measured it. Off, each is the identity and draws nothing from
the random stream, so runs without levers are exactly as before.

Input levers, applied alike in training and inference to the 257-Hz signal (leads, N)
in mV, before windows are cut (``prepare_input``):

- ``bandpass_low_hz`` / ``bandpass_high_hz``: a zero-phase 3rd-order Butterworth
  (forward and backward) with these edges; 0 leaves that edge open. The field's usual
  band is 0.5-40 or 0.5-45 Hz (``../shared/data/ptbxl-dev`` was made with 0.5-40 Hz).
- ``lead_standardisation``: ``"none"`` or ``"record"``: each lead minus its mean, over
  its standard deviation, over the whole record (a flat lead stays 0).

Training augmentation, drawn per training window from the epoch's seeded generator
(``stretch`` before the crop, ``augment`` after it):

- ``augment_stretch``: time stretched by a factor uniform in 1 ± this (linear interpolation);
- ``augment_amplitude``: each lead scaled by exp(N(0, this));
- ``augment_wander_mv``: a baseline wander of this amplitude (mV) per lead, 0.05-0.5 Hz;
- ``augment_noise_mv``: white Gaussian noise of this sd (mV);
- ``augment_lead_dropout``: each lead zeroed with this probability.

Loss: ``challenge_loss_weight`` adds that multiple of 1 - the differentiable challenge
score (``losses.soft_challenge_score``) to the BCE loss.

Padding: ``pad_to = "stride"`` zero-pads a record shorter than the window only to the next
multiple of the network's stride (``signal.padded_length``), in training batches (to the
longest record of the batch) and at inference, instead of to the whole window.

Thresholds from an inner split stratified by source, the issue's last lever, need no key:
``train.inner_split`` already stratifies by source and labels (``folds.make_folds``).
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from .signal import TARGET_FS

STANDARDISATIONS = ("none", "record")
INPUT_KEYS = ("bandpass_low_hz", "bandpass_high_hz", "lead_standardisation")
AUGMENT_KEYS = ("augment_stretch", "augment_amplitude", "augment_wander_mv", "augment_noise_mv", "augment_lead_dropout")
OFF = {"bandpass_low_hz": 0.0, "bandpass_high_hz": 0.0, "lead_standardisation": "none",
       **{key: 0.0 for key in AUGMENT_KEYS}, "challenge_loss_weight": 0.0, "pad_to": "window"}
PADDINGS = ("window", "stride")
BANDPASS_ORDER = 3


def problems(settings: dict) -> list[str]:
    """What is wrong with the lever values in ``settings`` (a configuration's dict), one message each."""
    low, high = settings["bandpass_low_hz"], settings["bandpass_high_hz"]
    checks = [
        (low < 0 or high < 0, "bandpass_low_hz and bandpass_high_hz must be >= 0 (0: that edge open)"),
        (high >= TARGET_FS / 2, f"bandpass_high_hz must lie below the Nyquist frequency, {TARGET_FS / 2} Hz"),
        (low > 0 and high > 0 and low >= high, "bandpass_low_hz must lie below bandpass_high_hz"),
        (settings["lead_standardisation"] not in STANDARDISATIONS, f"lead_standardisation must be one of {', '.join(STANDARDISATIONS)}"),
        (min(settings[key] for key in AUGMENT_KEYS) < 0, "augmentation settings must be >= 0"),
        (settings["challenge_loss_weight"] < 0, "challenge_loss_weight must be >= 0"),
        (settings["augment_lead_dropout"] >= 1, "augment_lead_dropout must lie in [0, 1)"),
        (settings["augment_stretch"] >= 0.5, "augment_stretch must lie in [0, 0.5)"),
        (settings["pad_to"] not in PADDINGS, f"pad_to must be one of {', '.join(PADDINGS)}"),
    ]
    return [message for failed, message in checks if failed]


def is_augmenting(config) -> bool:
    """Whether any training augmentation of ``config`` is on (each draws from the random stream)."""
    return any(getattr(config, key) != OFF[key] for key in AUGMENT_KEYS)


def is_active(config) -> bool:
    """Whether any input lever or augmentation of ``config`` is on (off: training windows are plain crops)."""
    return is_augmenting(config) or any(getattr(config, key) != OFF[key] for key in INPUT_KEYS)


def prepare_input(signal: np.ndarray, config) -> np.ndarray:
    """The input levers of ``config`` applied to a (leads, N) signal at ``signal.TARGET_FS``; float32, a new array when any is on."""
    low, high = config.bandpass_low_hz, config.bandpass_high_hz
    out = np.asarray(signal, dtype=np.float32)
    if (low > 0 or high > 0) and out.shape[1] > 3 * (2 * BANDPASS_ORDER + 1) * 2:
        kind, edges = ("bandpass", [low, high]) if low > 0 and high > 0 else ("highpass", low) if low > 0 else ("lowpass", high)
        sos = scipy.signal.butter(BANDPASS_ORDER, edges, btype=kind, fs=TARGET_FS, output="sos")
        out = scipy.signal.sosfiltfilt(sos, out, axis=1).astype(np.float32)
    if config.lead_standardisation == "record" and out.shape[1] > 1:
        sd = out.std(axis=1, keepdims=True)
        out = ((out - out.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    return out


def stretch(signal: np.ndarray, config, rng: np.random.Generator) -> np.ndarray:
    """The record time-stretched by a factor uniform in 1 ± ``config.augment_stretch`` (unchanged when 0)."""
    if config.augment_stretch <= 0 or signal.shape[1] < 2:
        return signal
    factor = rng.uniform(1 - config.augment_stretch, 1 + config.augment_stretch)
    n = signal.shape[1]
    positions = np.arange(max(2, int(round(n * factor)))) / factor
    return np.stack([np.interp(positions, np.arange(n), lead) for lead in signal]).astype(np.float32)


def augment(window: np.ndarray, config, rng: np.random.Generator) -> np.ndarray:
    """Amplitude scaling, baseline wander, noise and lead dropout of one (leads, L) training window, as configured."""
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
