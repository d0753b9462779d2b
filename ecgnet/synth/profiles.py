"""Synthetic sources: what differs between real databases, one named profile each.

A profile fixes what a recorder and a database decide and the heart does not: the
sampling rate and record length, the mains frequency and how much hum gets through,
baseline wander and muscle-noise levels, the recorder's own filter, its gain (the whole
record's scale, a calibration that is a little off) and the size of each lead (electrode
placement and skin). ``ptbxl-dev`` copies a preprocessing that PTB-XL
derivatives are shared with: 0.5-40 Hz 4th-order zero-phase Butterworth, then each lead z-scored over
the record and stored as 150 counts (0.15 mV nominal) per z unit.

Records of profile ``name`` are called ``SYN<CODE>00001``..., so ``records.files.source_of``
tells the profiles apart (``SYNCPSC``, ``SYNUS``...) and everything synthetic still
starts with ``SYN``; the default ``mix`` keeps the plain ``SYN`` names and the real-source
mix of formats in ``tables.SOURCES``. The numbers are plausible values for each kind of
database (the 2020 sources' rates and lengths as Perez Alday et al., Physiol. Meas. 2020,
list them), not measured fits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

PTBXL_DEV_BAND = (0.5, 40.0)  # Hz, the ptbxl-dev profile's band-pass
PTBXL_DEV_MV_PER_Z = 0.15  # one z unit is written as 150 counts at 1000/mV


@dataclass(frozen=True)
class Profile:
    """One synthetic source. ``None`` fields keep the generator's default draw (the real-source mix)."""

    name: str
    code: str  # record names are SYN + code + number
    fs: tuple[float, ...] | None = None  # sampling rates, Hz, drawn uniformly
    duration_s: tuple[float, float] | None = None  # record length range
    mains_hz: float | None = None
    hum_mv: tuple[float, float] | None = None  # amplitude range of the mains hum that gets through, on every record
    wander: float = 1.0  # scale of baseline wander (respiration and drift)
    muscle: float = 1.0  # scale of muscle (EMG) noise
    band_hz: tuple[float | None, float | None] = (None, None)  # the recorder's high-pass and low-pass (2nd-order, causal)
    gain: tuple[float, float] = (1.0, 1.0)  # range of the whole record's scale factor (calibration)
    lead_scale_sd: float = 0.0  # sd of each lead's log scale factor (electrodes, skin)
    standardise: bool = False  # ptbxl-dev's band-pass and per-lead z-score

    @property
    def prefix(self) -> str:
        """The record-name prefix (letters only, so ``source_of`` reads it whole)."""
        return "SYN" + self.code

    def record_format(self, rng: np.random.Generator) -> tuple[float | None, float | None]:
        """(sampling rate, duration s) drawn for one record; None where the profile keeps the default draw."""
        fs = float(rng.choice(self.fs)) if self.fs else None
        duration = float(rng.uniform(*self.duration_s)) if self.duration_s else None
        return fs, duration

    def record(self, signal_mv: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        """What the recorder and database make of a (12, N) mV signal: gain, lead sizes, filter, standardisation."""
        out = signal_mv * rng.uniform(*self.gain) * np.exp(rng.normal(0.0, self.lead_scale_sd, (signal_mv.shape[0], 1)))
        high, low = self.band_hz
        low = low if low is not None and low < 0.45 * fs else None
        if high is not None or low is not None:
            kind, edges = (("bandpass", [high, low]) if high and low else ("highpass", high) if high else ("lowpass", low))
            sos = scipy.signal.butter(2, edges, btype=kind, fs=fs, output="sos")
            # Started in its steady state for the first sample: a recorder filters continuously, with no start-up transient.
            zi = scipy.signal.sosfilt_zi(sos)[:, None, :] * out[None, :, :1]
            out, _ = scipy.signal.sosfilt(sos, out, axis=1, zi=zi)
        if self.standardise:
            sos = scipy.signal.butter(4, PTBXL_DEV_BAND, btype="bandpass", fs=fs, output="sos")
            out = scipy.signal.sosfiltfilt(sos, out, axis=1)
            sd = out.std(axis=1, keepdims=True)
            out = (out - out.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0) * PTBXL_DEV_MV_PER_Z
        return out


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("mix", ""),
    # CPSC-like: 500 Hz, 6-60 s, 50 Hz mains, a diagnostic-band recorder.
    Profile("cpsc", "CPSC", fs=(500.0,), duration_s=(6.0, 60.0), mains_hz=50.0, hum_mv=(0.005, 0.02), band_hz=(0.05, 150.0)),
    # INCART-like: 257 Hz (the 2020 training set's odd rate), longer strips, 50 Hz mains.
    Profile("incart", "INCART", fs=(257.0,), duration_s=(30.0, 60.0), mains_hz=50.0, hum_mv=(0.005, 0.03),
            muscle=1.5, band_hz=(0.05, None)),
    # PTB-like: 1000 Hz research recorder, wide band, quiet, 50 Hz mains.
    Profile("ptb", "PTB", fs=(1000.0,), duration_s=(20.0, 60.0), mains_hz=50.0, hum_mv=(0.002, 0.01), muscle=0.5, wander=0.7),
    # Georgia-like: 500 Hz, 10 s, US mains at 60 Hz, more wander, gains a little off.
    Profile("georgia", "GEORGIA", fs=(500.0,), duration_s=(10.0, 10.0), mains_hz=60.0, hum_mv=(0.01, 0.04),
            wander=2.0, gain=(0.85, 1.15), lead_scale_sd=0.1),
    # An unseen US source: 400 Hz, 10 s, strong 60 Hz hum, a monitoring-band recorder, uneven leads.
    Profile("us400", "US", fs=(400.0,), duration_s=(10.0, 10.0), mains_hz=60.0, hum_mv=(0.02, 0.08), muscle=2.0,
            band_hz=(0.5, 100.0), gain=(0.7, 1.3), lead_scale_sd=0.25),
    # ptbxl-dev: PTB-XL's 500 Hz 10 s records, band-passed and z-scored per lead.
    Profile("ptbxl-dev", "PTBXLDEV", fs=(500.0,), duration_s=(10.0, 10.0), mains_hz=50.0, standardise=True),
)}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown synthetic profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]
