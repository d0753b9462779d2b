"""Recording noise, made at the nine electrodes and then combined into the 12 leads.

Noise enters where real noise enters, at the electrodes (RA, LA, LL, V1-V6), so that
the limb leads keep their exact relations (III = II - I, aVR = -(I + II) / 2, ...).
Every record draws its own strength of each source: baseline wander (respiration
and slow drift), mains interference at 50 or 60 Hz, muscle (EMG) noise in bursts,
and sometimes an electrode artefact (a smoothed step that decays, or a motion burst).
"""
from __future__ import annotations

import numpy as np

N_ELECTRODES = 9  # RA, LA, LL, V1..V6
_RA, _LA, _LL = 0, 1, 2


def electrodes_to_leads(e: np.ndarray) -> np.ndarray:
    """9 x N electrode potentials -> 12 x N leads (Wilson's central terminal for V1-V6)."""
    ra, la, ll = e[_RA], e[_LA], e[_LL]
    wct = (ra + la + ll) / 3.0
    limb = np.stack([la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2, ll - (ra + la) / 2])
    return np.vstack([limb, e[3:] - wct])


def _smooth_noise(rng: np.random.Generator, rows: int, n: int, fs: float, low_hz: float, high_hz: float) -> np.ndarray:
    """Unit-variance Gaussian noise band-limited to [low_hz, high_hz] (FFT shaping)."""
    spectrum = np.fft.rfft(rng.standard_normal((rows, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[:, (freqs < low_hz) | (freqs > high_hz)] = 0.0
    out = np.fft.irfft(spectrum, n=n, axis=1)
    std = out.std(axis=1, keepdims=True)
    return out / np.where(std > 0, std, 1.0)


def make_noise(n: int, fs: float, mains_hz: float, respiration_hz: float, rng: np.random.Generator, *,
               hum_mv: tuple[float, float] | None = None, wander_scale: float = 1.0, muscle_scale: float = 1.0) -> np.ndarray:
    """12 x n noise in mV for one record.

    ``hum_mv`` (a source profile's): mains hum of that amplitude range at every electrode of
    every record, instead of the default's weaker hum on 35 % of records; ``wander_scale`` and
    ``muscle_scale`` multiply the baseline wander and the muscle noise.
    """
    t = np.arange(n) / fs
    e = np.zeros((N_ELECTRODES, n))
    # Baseline wander: respiration plus slow drift, a different mix per electrode.
    wander = wander_scale * 10 ** rng.uniform(-1.6, -0.5)  # 0.025-0.3 mV
    amp = wander * rng.uniform(0.2, 1.0, (N_ELECTRODES, 1))
    phase = rng.uniform(0, 2 * np.pi, (N_ELECTRODES, 1))
    e += amp * np.sin(2 * np.pi * respiration_hz * t + phase)
    for _ in range(2):
        f = rng.uniform(0.03, 0.3)
        e += wander * rng.uniform(0.0, 0.8, (N_ELECTRODES, 1)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (N_ELECTRODES, 1)))
    # Muscle noise: broadband, stronger on the limbs, in bursts.
    emg = muscle_scale * 10 ** rng.uniform(-3.3, -2.2)  # 0.5-6 uV: 40-100 Hz noise like real records'
    high = min(150.0, fs / 2.0)
    muscle = _smooth_noise(rng, N_ELECTRODES, n, fs, 20.0, high) if n > 8 else np.zeros((N_ELECTRODES, n))
    envelope = 1.0 + 0.8 * np.clip(_smooth_noise(rng, 1, n, fs, 0.0, 0.5), 0, None) if n > 8 else 1.0
    limb_weight = np.r_[np.ones(3), np.full(6, 0.5)][:, None]
    e += emg * limb_weight * muscle * envelope
    # Mains: common mode is rejected, a small differential part remains.
    if mains_hz < fs / 2 and (hum_mv is not None or rng.random() < 0.35):
        mains = rng.uniform(*hum_mv) if hum_mv is not None else 10 ** rng.uniform(-2.5, -1.5)
        e += mains * rng.uniform(0.2, 1.0, (N_ELECTRODES, 1)) * np.sin(2 * np.pi * mains_hz * t + rng.uniform(0, 2 * np.pi, (N_ELECTRODES, 1)))
    # Electrode artefact on one electrode.
    if rng.random() < 0.12 and n > 1:
        which = int(rng.integers(N_ELECTRODES))
        start = rng.uniform(0, t[-1])
        if rng.random() < 0.5:  # a pop: smoothed step, exponential decay
            size, tau, rise = rng.uniform(0.3, 1.5) * rng.choice([-1, 1]), rng.uniform(0.3, 2.0), rng.uniform(0.02, 0.05)
            after = np.clip(t - start, 0, None)
            e[which] += size * (1 - np.exp(-after / rise)) * np.exp(-after / tau) * (t >= start)
        else:  # motion: a short low-frequency burst
            length = rng.uniform(0.5, 2.0)
            window = np.exp(-0.5 * ((t - start - length / 2) / (length / 4)) ** 2)
            e[which] += rng.uniform(0.2, 0.6) * window * _smooth_noise(rng, 1, n, fs, 0.5, 5.0)[0]
    return electrodes_to_leads(e)
