"""One synthetic record in memory: labels, subject, beats, dipole, leads and noise.

A record of 2021 data (``challenge="2021"``) is the 2020 record of the same (seed, index)
with, now and then, one of the classes new in 2021 added (``labels.NEW_IN_2021``), drawn
from a stream of its own: 2020 data stay what they were, and a 2021 record differs from
its 2020 twin only where a new class was drawn.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from ecgnet.challenge.classes import ABBREVIATIONS, CLASS_SETS, CLASSES, DEFAULT_CLASS_SET, abbreviation, canonical_code
from ecgnet.synth import tables
from ecgnet.synth.dipole import Lobes, project, render
from ecgnet.synth.labels import CODE, KNOWN, NEW_IN_2021, make_consistent
from ecgnet.synth.morphology import Heart, Wave, make_heart
from ecgnet.synth.noise import make_noise
from ecgnet.synth.profiles import Profile
from ecgnet.synth.rhythm import CONDUCTED, PAC, PACED, PVC, Schedule, make_schedule


@cache
def label_table() -> tuple[tuple[frozenset[str], ...], np.ndarray]:
    """The common real label sets and their probabilities."""
    sets, counts = [], []
    for item in tables.LABEL_SETS.replace("\n", ";").split(";"):
        if item.strip():
            count, names = item.split()
            sets.append(frozenset(names.split("+")))
            counts.append(float(count))
    weights = np.array(counts)
    return tuple(sets), weights / weights.sum()


# Each class new in 2021 is added to this fraction of 2021 records: about 6 times the real share (BBB 522 and PRWP
# 638 of the 88,253 records of 2021; its dx_mapping_scored.csv), so that a demo-size set holds some of each.
NEW_CLASS_RATE = 0.04
# Their age and sex follow the nearest 2020 class's records (2020's labels have none of them).
DEMOGRAPHIC_STAND_IN = {"BBB": "NSIVCB", "PRWP": "QAb"}


@cache
def _marginals() -> dict[str, float]:
    sets, p = label_table()
    kept = tables.KEPT_FRACTION
    marginals = {a: kept * float(sum(pi for s, pi in zip(sets, p) if a in s)) + tables.TAIL_DEFICIT[a] / 100 for a in ABBREVIATIONS}
    return {**marginals, **dict.fromkeys(NEW_IN_2021, NEW_CLASS_RATE)}


def sample_labels(rng: np.random.Generator) -> frozenset[str]:
    """A consistent label set (abbreviations) with the real prevalence and co-occurrence."""
    sets, p = label_table()
    labels = sets[int(rng.choice(len(sets), p=p))]
    if rng.random() > tables.KEPT_FRACTION:  # the rare tail: one more class
        names = list(tables.TAIL_DEFICIT)
        w = np.array([tables.TAIL_DEFICIT[a] for a in names])
        labels = make_consistent(labels | {names[int(rng.choice(len(names), p=w / w.sum()))]})
    return labels


def with_new_classes(labels: frozenset[str], rng: np.random.Generator) -> frozenset[str]:
    """``labels`` with each class new in 2021 added at ``NEW_CLASS_RATE`` (drawn from ``rng``), made consistent again."""
    added = {name for name in NEW_IN_2021 if rng.random() < NEW_CLASS_RATE}
    return make_consistent(labels | added) if added else labels


def sample_demographics(labels: frozenset[str], rng: np.random.Generator) -> tuple[float | None, str]:
    """Age (None when missing) and sex, following the real records of the set's rarest class."""
    rarest = min(labels, key=lambda a: _marginals()[a])
    mean, sd, male = tables.DEMOGRAPHICS[DEMOGRAPHIC_STAND_IN.get(rarest, rarest)]
    sex = "Male" if rng.random() < male else "Female"
    age = float(np.clip(np.round(rng.normal(mean, sd)), *tables.AGE_RANGE))
    if rng.random() < tables.MISSING_AGE:
        return None, sex
    return age, sex


def sample_format(rng: np.random.Generator, fs_choices: Sequence[float] | None = None,
                  duration_range: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(sampling rate, duration s, mains Hz) like a real source, or from the given choices."""
    weights = np.array([s[0] for s in tables.SOURCES])
    _, fs, (lo, hi), mains = tables.SOURCES[int(rng.choice(len(weights), p=weights / weights.sum()))]
    duration = lo + (hi - lo) * rng.random() ** 3  # variable-length sources are mostly short
    if fs_choices is not None:
        fs = float(rng.choice(np.asarray(fs_choices, dtype=float)))
    if duration_range is not None:
        duration = float(rng.uniform(*duration_range))
    return float(fs), float(duration), float(mains)


@dataclass
class _Tiled:
    """The lobes of a whole record, gathered one beat template at a time."""

    lobes: list[Lobes]

    def add(self, template: Lobes, onsets: np.ndarray, amplitude: np.ndarray, time_scale: np.ndarray | None = None) -> None:
        """One copy of ``template`` per beat: shifted to its onset (s), scaled by its amplitude and time scale (B,)."""
        if len(onsets) == 0 or len(template.centre) == 0:
            return
        ts = np.ones(len(onsets)) if time_scale is None else time_scale
        self.lobes.append(Lobes(
            (onsets[:, None] + template.centre[None, :] * ts[:, None]).ravel(),
            (template.width_before[None, :] * ts[:, None]).ravel(),
            (template.width_after[None, :] * ts[:, None]).ravel(),
            (amplitude[:, None, None] * template.vector[None, :, :]).reshape(-1, 3),
        ))

    def total(self) -> Lobes:
        """All the lobes added so far, as one set."""
        out = Lobes.of([])
        for lobes in self.lobes:
            out = out + lobes
        return out


# Share of the QRS widening beyond 90 ms that lengthens the QT (the JT shortens by the rest): with
# the whole widening, wide-QRS records measured 80 ms above normal QTc, real ones about 40.
WIDE_QRS_QT_SHARE = 0.5
TP_GAP = -0.03  # s, T end to next P onset: the P lobe's onset may touch the T's last 30 ms, both under 10 % of their peaks
MIN_PR = {"IAVB": 0.24, "LPR": 0.24}  # a shortened PR must still read over 200 ms (P onset read ~30 ms after the lobe's start)


def _qt(wave: Wave, rr_prev: np.ndarray | float, qtc: float) -> np.ndarray:
    """QT (QRS onset to T end, s) of beats after an RR of ``rr_prev`` s: Fridericia, plus part of a wide QRS."""
    return qtc * np.clip(rr_prev, 0.3, 2.0) ** (1 / 3) + WIDE_QRS_QT_SHARE * max(wave.duration - 0.09, 0.0)


def _add_ventricles(tiled: _Tiled, wave: Wave, onsets: np.ndarray, rr_prev: np.ndarray, qtc: float,
                    amplitude: np.ndarray) -> None:
    tiled.add(wave.qrs, onsets, amplitude)
    qt = _qt(wave, rr_prev, qtc)
    scale = qt / _qt(wave, 1.0, qtc)
    earliest = wave.duration + 2.0 * wave.t_wave.width_before.max() * scale
    peak = np.maximum(qt - wave.t_after_peak * scale, earliest)
    tiled.add(wave.t_wave, onsets + peak, amplitude, scale)


def _p_after_t(schedule: Schedule, heart: Heart, labels: frozenset[str]) -> None:
    """Shorten the PR (in place) where a fast rate would put the sinus P inside the previous T.

    Real PR intervals shorten as the rate rises; the PR kept is the longest that leaves
    ``TP_GAP`` after the previous T end at the record's median RR, but never under the
    label's own minimum (over 200 ms for IAVB and LPR, 120 ms otherwise).
    """
    sinus = (schedule.kind == CONDUCTED) & ~np.isnan(schedule.p_on)
    if sinus.sum() < 2:
        return
    rr = float(np.median(np.diff(schedule.qrs_on)))
    floor = max([MIN_PR[a] for a in labels if a in MIN_PR], default=0.12)
    pr = max(min(heart.pr, rr - float(_qt(heart.conducted, rr, heart.qtc)) - TP_GAP), floor)
    if pr < heart.pr:
        schedule.p_on[sinus] += heart.pr - pr


def _dipole(heart: Heart, schedule: Schedule, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    t_on = schedule.qrs_on
    resp_phase = rng.uniform(0, 2 * np.pi)
    amplitude = 1 + 0.05 * np.sin(2 * np.pi * schedule.respiration_hz * t_on + resp_phase) + rng.normal(0, 0.015, len(t_on))
    tiled = _Tiled([])
    for kind, wave in ((CONDUCTED, heart.conducted), (PAC, heart.conducted), (PVC, heart.pvc), (PACED, heart.paced)):
        mask = schedule.kind == kind
        _add_ventricles(tiled, wave, t_on[mask], schedule.rr_prev[mask], heart.qtc, amplitude[mask])
    has_p = ~np.isnan(schedule.p_on)
    sinus_p = has_p & (schedule.kind != PAC)
    tiled.add(heart.p_wave, schedule.p_on[sinus_p], rng.normal(1.0, 0.03, int(sinus_p.sum())))
    pac_p = has_p & (schedule.kind == PAC)
    tiled.add(heart.pac_p_wave, schedule.p_on[pac_p], np.ones(int(pac_p.sum())))
    dipole = render(tiled.total(), n, fs)

    t = np.arange(n) / fs
    if schedule.flutter_hz > 0:  # sawtooth: a few harmonics of the flutter cycle
        phase = 2 * np.pi * schedule.flutter_hz * t
        saw = sum(np.sin(h * phase) / h for h in range(1, 5))
        dipole += np.outer(heart.flutter_vector, saw / 1.2)
    for times, vector in ((schedule.atrial_spikes, heart.atrial_spike), (schedule.ventricular_spikes, heart.ventricular_spike)):
        index = np.rint(np.asarray(times) * fs).astype(np.int64)
        index = index[(index >= 0) & (index < n)]
        dipole[:, index] += vector[:, None]
    return dipole


def _fibrillation(heart: Heart, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Fibrillatory waves: 4.5-8 Hz oscillations whose frequency and size wander."""
    t = np.arange(n) / fs
    wave = np.zeros(n)
    base = rng.uniform(4.5, 8.0)
    for _ in range(3):
        f = base * rng.uniform(0.85, 1.15)
        deviation = np.clip(np.cumsum(rng.normal(0.0, 0.5 / np.sqrt(fs), n)), -1.5, 1.5)  # Hz, wandering
        phase = 2 * np.pi * (f * t + np.cumsum(deviation) / fs) + rng.uniform(0, 2 * np.pi)
        wave += rng.uniform(0.4, 1.0) * np.sin(phase)
    wave *= 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return np.outer(heart.fibrillation_vector, wave / 1.5)


def _first(*values):
    return next(v for v in values if v is not None)


def to_abbreviations(codes: Iterable[str]) -> frozenset[str]:
    """SNOMED codes (or abbreviations) -> the generator's class abbreviations (2020's scored classes, BBB, PRWP)."""
    new = {code: name for name, code in CODE.items() if name in NEW_IN_2021}
    out = set()
    for code in codes:
        code = code.strip()
        if code in CODE:
            out.add(code)
        elif canonical_code(code) in CLASSES:
            out.add(abbreviation(canonical_code(code)))
        elif code in new:
            out.add(new[code])
        else:
            raise ValueError(f"not a scored class: {code!r}")
    return frozenset(out)


def _plan(index: int, seed: int, codes: Iterable[str] | None, fs: float | None, duration: float | None,
          fs_choices: Sequence[float] | None, duration_range: tuple[float, float] | None, profile: Profile | None,
          challenge: str = DEFAULT_CLASS_SET):
    """Everything drawn before the signal: (rng, source_rng, profile, labels, age, sex, fs, duration, mains, heart, schedule)."""
    if challenge not in CLASS_SETS:
        raise ValueError(f"unknown challenge {challenge!r}: known are {', '.join(CLASS_SETS)}")
    rng = np.random.default_rng([int(seed), int(index)])
    labels = sample_labels(rng) if codes is None else make_consistent(to_abbreviations(codes))
    if challenge == "2021" and codes is None:  # its own stream: the record's other draws stay those of 2020
        labels = with_new_classes(labels, np.random.default_rng([int(seed), int(index), 2]))
    if not labels:
        raise ValueError("a record needs at least one class")
    age, sex = sample_demographics(labels, rng)
    fs_drawn, duration_drawn, mains = sample_format(rng, fs_choices, duration_range)
    source_rng = np.random.default_rng([int(seed), int(index), 1])  # the profile's own draws leave the record's alone
    profile = profile or Profile("mix", "")
    fs_profile, duration_profile = profile.record_format(source_rng)
    # Forced values first, then the caller's choices, then the profile's, then the real-source mix.
    fs = float(_first(fs, fs_drawn if fs_choices is not None else None, fs_profile, fs_drawn))
    duration = float(_first(duration, duration_drawn if duration_range is not None else None, duration_profile, duration_drawn))
    mains = profile.mains_hz or mains
    heart = make_heart(labels, rng)
    schedule = make_schedule(labels, heart.pr, duration, rng)
    _p_after_t(schedule, heart, labels)
    return rng, source_rng, profile, labels, age, sex, fs, duration, mains, heart, schedule


def generate_record(index: int, seed: int = 0, *, codes: Iterable[str] | None = None, fs: float | None = None,
                    duration: float | None = None, fs_choices: Sequence[float] | None = None,
                    duration_range: tuple[float, float] | None = None, profile: Profile | None = None,
                    challenge: str = DEFAULT_CLASS_SET) -> tuple[np.ndarray, float, float | None, str, list[str]]:
    """Record ``index`` of the dataset ``seed``: (signal 12 x N in mV, fs, age, sex, SNOMED codes).

    The random stream depends only on (seed, index), so a dataset is the same whatever
    the number of workers. ``codes`` forces the label set (made consistent first);
    ``fs`` and ``duration`` force the format. ``profile`` (``profiles.PROFILES``) sets the
    source: its format, mains, noise levels and recorder; the default is the real-source mix.
    ``challenge="2021"`` adds the classes new in 2021 now and then (the module's docstring);
    ``ValueError`` for an unknown challenge.
    """
    rng, source_rng, profile, labels, age, sex, fs, duration, mains, heart, schedule = _plan(
        index, seed, codes, fs, duration, fs_choices, duration_range, profile, challenge)
    n = int(round(duration * fs))
    dipole = _dipole(heart, schedule, n, fs, rng)
    if "AF" in labels:
        dipole += _fibrillation(heart, n, fs, rng)
    noise = make_noise(n, fs, mains, schedule.respiration_hz, rng, hum_mv=profile.hum_mv,
                       wander_scale=profile.wander, muscle_scale=profile.muscle)
    signal = profile.record(project(dipole) + noise, fs, source_rng)
    codes_out = [CODE[a] for a in KNOWN if a in labels]
    return signal, fs, age, sex, codes_out


@dataclass(frozen=True)
class Fiducials:
    """Where the generator put each beat's waves, in seconds from the record's start (one entry per beat)."""

    qrs_on: np.ndarray
    qrs_end: np.ndarray
    p_on: np.ndarray  # nan: no P wave before this beat
    p_end: np.ndarray


def record_fiducials(index: int, seed: int = 0, *, codes: Iterable[str] | None = None, fs: float | None = None,
                     duration: float | None = None, fs_choices: Sequence[float] | None = None,
                     duration_range: tuple[float, float] | None = None, profile: Profile | None = None,
                     challenge: str = DEFAULT_CLASS_SET) -> Fiducials:
    """The wave boundaries of the record ``generate_record`` makes from the same arguments (e.g. to check attributions)."""
    *_, heart, schedule = _plan(index, seed, codes, fs, duration, fs_choices, duration_range, profile, challenge)
    qrs = {CONDUCTED: heart.conducted.duration, PAC: heart.conducted.duration, PVC: heart.pvc.duration, PACED: heart.paced.duration}
    qrs_end = schedule.qrs_on + np.array([qrs[int(k)] for k in schedule.kind])
    return Fiducials(schedule.qrs_on, qrs_end, schedule.p_on, schedule.p_on + heart.p_wave.end)
