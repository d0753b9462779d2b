"""When each beat happens and what kind it is: the RR process of every rhythm label.

Sinus rhythm: RR modulated by respiration (0.15-0.35 Hz) and a slower Mayer wave,
plus a few ms of jitter; sinus arrhythmia (SA) has a respiratory modulation of
8-16 % of the RR (under 2.5 % otherwise). Rates: SB 40-57/min, Brady 38-56,
STach 102/min plus an exponential of mean 7/min (median 107, at most 150: real sinus
tachycardia crowds just above 100), otherwise 62-98 (65-92 with SA). AF: RR log-normal with a spread
of 12-25 %, no P waves, fibrillatory waves; AFL: sawtooth waves at 250-330/min
conducted 2:1, 3:1, 4:1 or variably. PAC: premature P and normal QRS at 55-75 %
of the RR, then the sinus node resets; PVC: premature wide beat without P, then a
full compensatory pause. PR: pacing spikes, either atrio-ventricular sequential
(two spikes) or atrial-tracking (a spike after each sinus P).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONDUCTED, PVC, PACED, PAC = 0, 1, 2, 3


@dataclass
class Schedule:
    """Every beat of a record: QRS onsets (s), kinds, P onsets (nan when none), spikes."""

    qrs_on: np.ndarray
    kind: np.ndarray
    p_on: np.ndarray
    atrial_spikes: np.ndarray
    ventricular_spikes: np.ndarray
    rr_prev: np.ndarray
    flutter_hz: float = 0.0
    respiration_hz: float = 0.25


def _sinus_rate(labels: frozenset[str], rng: np.random.Generator) -> float:
    if "SB" in labels:
        return rng.uniform(40.0, 57.0)
    if "Brady" in labels:
        return rng.uniform(38.0, 56.0)
    if "STach" in labels:
        return min(102.0 + rng.exponential(7.0), 150.0)
    if "SA" in labels:
        return rng.uniform(65.0, 92.0)
    return rng.uniform(62.0, 98.0)


def _ectopic_slots(n_beats: int, duration: float, rng: np.random.Generator) -> set[int]:
    """Beat indices replaced by a premature beat: at least one inside the record."""
    if rng.random() < 0.1:  # bigeminy for a stretch
        start = int(rng.integers(2, max(3, n_beats // 2)))
        return set(range(start, n_beats - 1, 2))
    count = max(1, int(rng.poisson(duration / 10.0 * rng.uniform(0.7, 2.5))))
    candidates = np.arange(2, max(3, n_beats - 1))
    return set(rng.choice(candidates, size=min(count, len(candidates)), replace=False).tolist())


@dataclass
class _Process:
    """The RR process of one record, drawn once: base RR (s), modulations and rhythm flags."""

    rr0: float
    resp_hz: float
    resp_phase: float
    resp_depth: float
    lf_hz: float
    lf_phase: float
    lf_depth: float
    jitter: float  # s
    af: bool
    afl: bool
    paced: bool
    pacing_mode: str  # "sequential", "tracking" or "" (not paced)
    af_spread: float
    flutter_hz: float = 0.0
    flutter_ratio: int = 0  # QRS per flutter wave; 0: variable block
    flutter_delay: float = 0.0  # s from a flutter wave to its QRS


@dataclass
class _Beats:
    """The beats of a record as they are laid down, one list entry per beat (spikes: their own lists)."""

    qrs_on: list[float] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    p_on: list[float] = field(default_factory=list)
    atrial_spikes: list[float] = field(default_factory=list)
    ventricular_spikes: list[float] = field(default_factory=list)


def _draw_process(labels: frozenset[str], rng: np.random.Generator) -> _Process:
    """Rate, respiratory and Mayer-wave modulation, and the AF / flutter / pacing settings."""
    resp_hz = rng.uniform(0.15, 0.35)
    resp_phase, lf_hz, lf_phase = rng.uniform(0, 2 * np.pi), rng.uniform(0.06, 0.12), rng.uniform(0, 2 * np.pi)
    resp_depth = rng.uniform(0.08, 0.16) if "SA" in labels else rng.uniform(0.005, 0.025)
    lf_depth, jitter = rng.uniform(0.005, 0.02), rng.uniform(0.002, 0.008)
    af, afl, paced = "AF" in labels, "AFL" in labels, "PR" in labels
    pacing_mode = str(rng.choice(["sequential", "tracking"])) if paced else ""
    if af:
        rate = rng.uniform(42.0, 56.0) if "Brady" in labels else rng.uniform(62.0, 130.0)
    elif pacing_mode == "sequential":
        rate = rng.uniform(60.0, 85.0)
    else:
        rate = _sinus_rate(labels, rng)
    process = _Process(60.0 / rate, resp_hz, resp_phase, resp_depth, lf_hz, lf_phase, lf_depth, jitter,
                       af, afl, paced, pacing_mode, af_spread=rng.uniform(0.12, 0.25))
    if afl:
        process.flutter_hz = rng.uniform(4.2, 5.5)
        if "Brady" in labels:
            process.flutter_ratio = int(np.ceil(process.flutter_hz * 60.0 / 56.0))
        else:
            process.flutter_ratio = int(rng.choice([2, 3, 4, 0], p=[0.45, 0.1, 0.25, 0.2]))
        process.flutter_delay = rng.uniform(0.18, 0.28)
    return process


def _premature_beat(kind: int, t: float, rr0: float, beats: _Beats, rng: np.random.Generator) -> float:
    """Lay down a PAC or PVC in place of the beat due at ``t``; returns the pause (s) to the next beat."""
    previous = beats.qrs_on[-1] if beats.qrs_on else t - rr0
    base_rr = t - previous if beats.qrs_on else rr0
    t_ectopic = previous + max(rng.uniform(0.55, 0.75) * base_rr, 0.32)
    beats.qrs_on.append(t_ectopic)
    beats.kind.append(kind)
    if kind == PAC:  # the sinus node resets
        beats.p_on.append(t_ectopic - rng.uniform(0.12, 0.2))
        return t_ectopic + base_rr * rng.uniform(1.0, 1.12) - t
    beats.p_on.append(np.nan)  # PVC: a full compensatory pause
    return previous + 2 * base_rr - t


def _regular_beat(process: _Process, t: float, pr: float, beats: _Beats, rng: np.random.Generator) -> float:
    """Lay down the rhythm's own beat at ``t`` (s); returns the RR (s) to the next one."""
    beats.qrs_on.append(t)
    if process.af or process.afl:
        beats.kind.append(CONDUCTED)
        beats.p_on.append(np.nan)
        if process.af:
            return max(process.rr0 * np.exp(rng.normal(0.0, process.af_spread)), 0.33)
        return (process.flutter_ratio or int(rng.choice([2, 3, 4]))) / process.flutter_hz
    respiration = process.resp_depth * np.sin(2 * np.pi * process.resp_hz * t + process.resp_phase)
    if process.paced:
        beats.kind.append(PACED)
        beats.p_on.append(t - pr)
        beats.ventricular_spikes.append(t)
        if process.pacing_mode == "sequential":
            beats.atrial_spikes.append(t - pr)
            return process.rr0
        return process.rr0 * (1 + respiration) + rng.normal(0, process.jitter)
    beats.kind.append(CONDUCTED)
    beats.p_on.append(t - pr + rng.normal(0.0, 0.003))
    mayer = process.lf_depth * np.sin(2 * np.pi * process.lf_hz * t + process.lf_phase)
    return process.rr0 * (1 + respiration + mayer) + rng.normal(0.0, process.jitter)


def make_schedule(labels: frozenset[str], pr: float, duration: float, rng: np.random.Generator) -> Schedule:
    """Beat times and kinds over ``duration`` seconds (starting a little before 0); ``pr`` in seconds."""
    process = _draw_process(labels, rng)
    ectopic_kind = [kind for kind, label in ((PAC, "PAC"), (PVC, "PVC")) if label in labels]
    slots: set[int] = set()
    if ectopic_kind:  # slots among the beats inside the record (the first starts before 0)
        slots = _ectopic_slots(max(4, int(duration / process.rr0)), duration, rng)
    beats = _Beats()
    cycle = int(rng.integers(0, 4))
    t = -rng.uniform(0.2, 1.0) * process.rr0
    if process.afl:
        t = process.flutter_delay - cycle / process.flutter_hz
    k = 0
    while t < duration + 0.5:
        if k in slots:
            t += max(_premature_beat(int(rng.choice(ectopic_kind)), t, process.rr0, beats, rng), 0.0)
        else:
            t += _regular_beat(process, t, pr, beats, rng)
        k += 1
    qrs = np.array(beats.qrs_on)
    rr_prev = np.diff(qrs, prepend=qrs[0] - process.rr0)
    return Schedule(qrs, np.array(beats.kind), np.array(beats.p_on, dtype=float), np.array(beats.atrial_spikes),
                    np.array(beats.ventricular_spikes), rr_prev, process.flutter_hz, process.resp_hz)
