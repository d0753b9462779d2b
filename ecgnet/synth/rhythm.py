"""When each beat happens and what kind it is: the RR process of every rhythm label.

Sinus rhythm: RR modulated by respiration (0.15-0.35 Hz) and a slower Mayer wave,
plus a few ms of jitter; sinus arrhythmia (SA) has a respiratory modulation of
8-16 % of the RR (under 2.5 % otherwise). Rates: SB 40-57/min, Brady 38-56,
STach 103-150, otherwise 62-98 (65-92 with SA). AF: RR log-normal with a spread
of 12-25 %, no P waves, fibrillatory waves; AFL: sawtooth waves at 250-330/min
conducted 2:1, 3:1, 4:1 or variably. PAC: premature P and normal QRS at 55-75 %
of the RR, then the sinus node resets; PVC: premature wide beat without P, then a
full compensatory pause. PR: pacing spikes, either atrio-ventricular sequential
(two spikes) or atrial-tracking (a spike after each sinus P).
"""
from __future__ import annotations

from dataclasses import dataclass

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
        return rng.uniform(103.0, 150.0)
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


def make_schedule(labels: frozenset[str], pr: float, duration: float, rng: np.random.Generator) -> Schedule:
    """Beat times and kinds over ``duration`` seconds (starting a little before 0)."""
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
    rr0 = 60.0 / rate
    af_spread = rng.uniform(0.12, 0.25)

    flutter_hz, flutter_ratio = 0.0, 0
    if afl:
        flutter_hz = rng.uniform(4.2, 5.5)
        if "Brady" in labels:
            flutter_ratio = int(np.ceil(flutter_hz * 60.0 / 56.0))
        else:
            flutter_ratio = int(rng.choice([2, 3, 4, 0], p=[0.45, 0.1, 0.25, 0.2]))  # 0: variable block
        flutter_delay = rng.uniform(0.18, 0.28)

    slots: set[int] = set()
    ectopic_kind = []
    if "PAC" in labels:
        ectopic_kind.append(PAC)
    if "PVC" in labels:
        ectopic_kind.append(PVC)
    if ectopic_kind:  # slots among the beats inside the record (the first starts before 0)
        slots = _ectopic_slots(max(4, int(duration / rr0)), duration, rng)

    qrs_on, kinds, p_on = [], [], []
    a_spikes, v_spikes = [], []
    cycle = int(rng.integers(0, 4))
    t = -rng.uniform(0.2, 1.0) * rr0
    if afl:
        t = flutter_delay - cycle / flutter_hz
    pending_pause = 0.0
    k = 0
    while t < duration + 0.5:
        if k in slots:
            kind = int(rng.choice(ectopic_kind))
            previous = qrs_on[-1] if qrs_on else t - rr0
            base_rr = t - previous if qrs_on else rr0
            coupling = max(rng.uniform(0.55, 0.75) * base_rr, 0.32)
            t_ect = previous + coupling
            qrs_on.append(t_ect)
            kinds.append(kind)
            if kind == PAC:
                p_on.append(t_ect - rng.uniform(0.12, 0.2))
                pending_pause = t_ect + base_rr * rng.uniform(1.0, 1.12) - t
            else:
                p_on.append(np.nan)
                pending_pause = previous + 2 * base_rr - t
            t += max(pending_pause, 0.0)
            k += 1
            continue
        qrs_on.append(t)
        if af:
            kinds.append(CONDUCTED)
            p_on.append(np.nan)
            rr = max(rr0 * np.exp(rng.normal(0.0, af_spread)), 0.33)
        elif afl:
            kinds.append(CONDUCTED)
            p_on.append(np.nan)
            ratio = flutter_ratio or int(rng.choice([2, 3, 4]))
            rr = ratio / flutter_hz
        elif paced:
            kinds.append(PACED)
            p_on.append(t - pr)
            v_spikes.append(t)
            if pacing_mode == "sequential":
                a_spikes.append(t - pr)
                rr = rr0
            else:
                rr = rr0 * (1 + resp_depth * np.sin(2 * np.pi * resp_hz * t + resp_phase)) + rng.normal(0, jitter)
        else:
            kinds.append(CONDUCTED)
            p_on.append(t - pr + rng.normal(0.0, 0.003))
            rr = rr0 * (1 + resp_depth * np.sin(2 * np.pi * resp_hz * t + resp_phase)
                        + lf_depth * np.sin(2 * np.pi * lf_hz * t + lf_phase)) + rng.normal(0.0, jitter)
        t += rr
        k += 1
    qrs = np.array(qrs_on)
    rr_prev = np.diff(qrs, prepend=qrs[0] - rr0)
    return Schedule(qrs, np.array(kinds), np.array(p_on, dtype=float), np.array(a_spikes), np.array(v_spikes),
                    rr_prev, flutter_hz, resp_hz)
