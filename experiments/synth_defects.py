"""The generator's measured defects: synthetic records against real ones, one measurement for both.

Usage: .venv/bin/python experiments/synth_defects.py [--n 40] [--real DIR ...] [--seed 7]
       (the suite: --n 1 --real, no real records)

The measurement is this script's own median-beat delineation and shares no code with the
generator (neurokit2 was not used: its pins need pandas < 3 and setuptools < 82, which the
project's environment does not have). Each record: 0.5-40 Hz band-pass; R peaks from the
5-20 Hz energy summed over the leads; the median beat (-0.5 .. +0.8 s around each R);
QRS onset and end where the summed slope stays above 10 % of its maximum (notches under
20 ms bridged); T end by the tangent at the steepest fall after the T peak of the RMS of
the leads, crossing the baseline; P onset where the atrial activity (leads II and V1,
detrended), looked for between the previous beat's T end and the QRS only, falls to 25 %
of its peak: a P hidden in the previous T is not found there, and its PR reads short. QTc by Fridericia (QT / RR^(1/3)).
High-frequency noise: RMS of the 40-100 Hz band (of the raw signal, no 0.5-40 Hz filter)
more than 100 ms from every R peak, median over the leads, in microvolts.

Groups are taken by label: synthetic records are forced to carry them (500 Hz, 10 s),
real records (``--real``: default ``../shared/data/ptbxl-dev`` and
``../shared/data/cinc2020-real``) are selected by their ``#Dx`` codes; ``ptbxl-dev``,
band-passed at 40 Hz, is left out of the noise row. Prints one Markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.signal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, print_table  # noqa: E402
from ecgnet.challenge.classes import ABBREVIATIONS  # noqa: E402
from ecgnet.records.files import find_records  # noqa: E402
from ecgnet.records.reader import read_record  # noqa: E402
from ecgnet.synth import generate_record  # noqa: E402
from experiments.ecg_measures import bandpass, r_peaks  # noqa: E402

CONDUCTION = {"LBBB", "CRBBB", "IRBBB", "NSIVCB", "LAnFB", "PR"}
GROUPS = {  # name: (codes forced on synthetic records, selection of real records by their labels)
    "normal conduction": (("NSR",), lambda s: "NSR" in s and not s & (CONDUCTION | {"AF", "AFL"})),
    "IRBBB": (("IRBBB", "NSR"), lambda s: "IRBBB" in s),
    "wide QRS (LBBB, CRBBB, NSIVCB)": (None, lambda s: bool(s & {"LBBB", "CRBBB", "NSIVCB"}) and not s & {"AF", "AFL", "PR"}),
    "LQT without TAb": (("LQT", "NSR"), lambda s: "LQT" in s and "TAb" not in s),
    "LQT with TAb": (("LQT", "TAb", "NSR"), lambda s: "LQT" in s and "TAb" in s),
    "IAVB": (("IAVB",), lambda s: "IAVB" in s and not s & {"AF", "AFL"}),
    "IAVB + STach": (("IAVB", "STach"), lambda s: "IAVB" in s and "STach" in s),
    "STach": (("STach",), lambda s: "STach" in s and not s & {"AF", "AFL"}),
}
WIDE = (("LBBB", "NSR"), ("CRBBB", "NSR"), ("NSIVCB", "NSR"))


def _qrs(beat: np.ndarray, fs: float, centre: int) -> tuple[int, int]:
    slope = np.convolve(np.abs(np.diff(beat, axis=1)).sum(axis=0), np.ones(max(1, int(0.008 * fs))), mode="same")
    lo, hi = centre - int(0.12 * fs), centre + int(0.15 * fs)
    level, start, gap = 0.10 * slope[lo:hi].max(), int(np.argmax(slope[lo:hi])) + lo, int(0.02 * fs)
    onset, end = start, start
    while onset > lo and (slope[max(lo, onset - gap):onset] > level).any():
        onset -= 1
    while end < hi and (slope[end:end + gap] > level).any():
        end += 1
    return onset, end


def _t_end(beat: np.ndarray, fs: float, end: int, limit: int) -> int | None:
    """Tangent method on the RMS of the leads (baseline: the 20 ms before the QRS end + 40 ms)."""
    rms = np.sqrt((beat ** 2).mean(axis=0))
    lo = end + int(0.06 * fs)
    if limit - lo < int(0.1 * fs):
        return None
    peak = lo + int(np.argmax(rms[lo:limit]))
    fall = np.diff(rms[peak:limit])
    if len(fall) < 2:
        return None
    steepest = peak + int(np.argmin(fall))
    slope = fall.min()
    base = float(np.median(rms[limit - int(0.04 * fs):limit])) if limit - int(0.04 * fs) > steepest else float(rms[limit - 1])
    if slope >= 0:
        return None
    return int(round(steepest + (base - rms[steepest]) / slope))


def measure(signal: np.ndarray, fs: float, raw_noise: bool) -> dict | None:
    """Rate, QRS, QT/QTc, PR, P-in-previous-T and high-frequency noise of one (12, N) mV record."""
    peaks = r_peaks(scipy.signal.medfilt(signal, (1, 3)), fs)
    if len(peaks) < 4:
        return None
    rr = float(np.median(np.diff(peaks)) / fs)
    clean = bandpass(signal, fs, 0.5, 40.0)
    before, after = int(0.5 * fs), int(0.8 * fs)
    keep = [p for p in peaks if p - before >= 0 and p + after <= signal.shape[1]]
    if len(keep) < 3:
        return None
    beat = np.median(np.stack([clean[:, p - before:p + after] for p in keep]), axis=0)
    onset, end = _qrs(beat, fs, before)
    beat = beat - beat[:, max(0, onset - int(0.03 * fs)):onset - int(0.01 * fs)].mean(axis=1, keepdims=True)
    t_end = _t_end(beat, fs, end, min(beat.shape[1], before + int((rr - 0.12) * fs)))
    qt = None if t_end is None else (t_end - onset) / fs
    previous_t_end = None if t_end is None else t_end - int(round(rr * fs))  # the previous beat's T end, this beat's samples
    p_lo = max(0, onset - int(0.42 * fs), previous_t_end or 0)  # a P is looked for after the previous T only
    if onset - int(0.04 * fs) - p_lo < int(0.03 * fs):
        p_lo = onset - int(0.07 * fs)
    atrial = np.linalg.norm(scipy.signal.detrend(beat[[1, 6], p_lo:onset - int(0.04 * fs)], axis=1), axis=0)
    p_peak = int(np.argmax(atrial))
    p_on = p_peak
    while p_on > 0 and 0.25 * atrial[p_peak] < atrial[p_on - 1] <= atrial[p_on] + 1e-3:
        p_on -= 1
    p_on += p_lo
    noise = None
    if raw_noise:
        high = bandpass(signal, fs, 40.0, 100.0)
        far = np.ones(signal.shape[1], dtype=bool)
        for p in peaks:
            far[max(0, p - int(0.1 * fs)):p + int(0.1 * fs)] = False
        noise = float(np.median(np.sqrt((high[:, far] ** 2).mean(axis=1)))) * 1000
    return {"rate": 60.0 / rr, "qrs_ms": (end - onset) / fs * 1000, "qtc_ms": None if qt is None else qt / rr ** (1 / 3) * 1000,
            "pr_ms": (onset - p_on) / fs * 1000,
            "noise_uv": noise}


def synthetic(n: int, seed: int) -> dict[str, list[dict]]:
    """Group -> the measures of ``n`` synthetic records forced to carry the group's labels."""
    out: dict[str, list[dict]] = {}
    for g, (name, (codes, _)) in enumerate(GROUPS.items()):
        rows = []
        for i in range(n):
            forced = codes or WIDE[i % len(WIDE)]
            signal, fs, *_ = generate_record(10_000 * (g + 1) + i, seed, codes=forced, fs=500.0, duration=10.0)
            m = measure(signal, fs, raw_noise=True)
            rows += [m] if m else []
        out[name] = rows
    return out


def real(directories: list[Path]) -> dict[str, list[dict]]:
    """Group -> the measures of the real records in ``directories`` whose labels select them."""
    out: dict[str, list[dict]] = {name: [] for name in GROUPS}
    for directory in directories:
        raw = "ptbxl-dev" not in directory.name
        for path in (files.path for files in find_records(directory).records):
            try:
                record = read_record(path)
            except ValueError:
                continue
            labels = {a for a, on in zip(ABBREVIATIONS, record.labels) if on}
            chosen = [name for name, (_, select) in GROUPS.items() if select(labels)]
            m = measure(np.asarray(record.signal, dtype=float), record.fs, raw) if chosen else None
            for name in chosen if m else []:
                out[name].append(m)
    return out


def _values(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows if r.get(key) is not None], dtype=float)


def _median(rows: list[dict], key: str) -> str:
    v = _values(rows, key)
    return "n/a" if not len(v) else f"{np.median(v):.0f} [{np.percentile(v, 25):.0f}-{np.percentile(v, 75):.0f}] (n={len(v)})"


def _share(rows: list[dict], key: str, test) -> str:
    v = _values(rows, key)
    return "n/a" if not len(v) else f"{100 * np.mean(test(v)):.0f} % (n={len(v)})"


ROWS = (  # (defect, group, what, statistic)
    ("QRS too wide", "normal conduction", "QRS ms, median [IQR]", lambda r: _median(r, "qrs_ms")),
    ("QRS too wide", "normal conduction", "QRS 100-119 ms", lambda r: _share(r, "qrs_ms", lambda v: (v >= 100) & (v < 120))),
    ("QRS too wide", "IRBBB", "QRS ms, median [IQR]", lambda r: _median(r, "qrs_ms")),
    ("QRS too wide", "IRBBB", "QRS >= 120 ms", lambda r: _share(r, "qrs_ms", lambda v: v >= 120)),
    ("QT in wide QRS", "normal conduction", "QTc ms (Fridericia)", lambda r: _median(r, "qtc_ms")),
    ("QT in wide QRS", "wide QRS (LBBB, CRBBB, NSIVCB)", "QTc ms (Fridericia)", lambda r: _median(r, "qtc_ms")),
    ("long QT hidden by TAb", "LQT without TAb", "QTc > 460 ms", lambda r: _share(r, "qtc_ms", lambda v: v > 460)),
    ("long QT hidden by TAb", "LQT with TAb", "QTc > 460 ms", lambda r: _share(r, "qtc_ms", lambda v: v > 460)),
    ("IAVB P inside T", "IAVB", "PR > 200 ms, P found after the previous T", lambda r: _share(r, "pr_ms", lambda v: v > 200)),
    ("IAVB P inside T", "IAVB + STach", "PR > 200 ms, P found after the previous T", lambda r: _share(r, "pr_ms", lambda v: v > 200)),
    ("IAVB P inside T", "IAVB + STach", "PR ms, P found after the previous T", lambda r: _median(r, "pr_ms")),
    ("STach rates", "STach", "rate /min, median [IQR]", lambda r: _median(r, "rate")),
    ("high-frequency noise", "normal conduction", "40-100 Hz RMS away from QRS, uV", lambda r: _median(r, "noise_uv")),
)


def main() -> None:
    """Measure both sets and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="synthetic records per group (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--real", type=Path, nargs="*",
                        default=[SHARED_DATA / "ptbxl-dev", SHARED_DATA / "cinc2020-real"])
    args = parser.parse_args()
    synth, measured = synthetic(args.n, args.seed), real([d for d in args.real if d.is_dir()])
    print_table(("defect", "group", "measure", "real records", "synthetic"),
                [(defect, group, what, statistic(measured[group]), statistic(synth[group])) for defect, group, what, statistic in ROWS],
                align="lllll")


if __name__ == "__main__":
    main()
