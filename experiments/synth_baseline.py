"""How hard is the synthetic data? A non-deep baseline scored with the challenge metric.

Usage: .venv/bin/python experiments/synth_baseline.py [--train 2000] [--test 1000] [--seed 0] [--jobs 2]
       (the suite: --train 40 --test 20 --jobs 1)
Eleven hand-made features per record (rate, RR irregularity and range, premature
beats, QRS width, frontal axis as sin/cos, largest limb-lead QRS, T polarity,
pacing spikes, P-wave size) plus age and sex, one-vs-rest logistic regression
(scikit-learn), a 0.5 threshold and the top class always on; scored on held-out
records (another seed) with ``ecgnet.challenge.metrics.challenge_metric``. A score near 1
would mean the generator is trivial, near 0 that it is unlearnable. Records come
from the real-source mix of sampling rates; each is measured on its first 10 s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table  # noqa: E402
from ecgnet.challenge.classes import ABBREVIATIONS, encode_codes  # noqa: E402
from ecgnet.challenge.metrics import challenge_metric, f_measure  # noqa: E402
from ecgnet.challenge.thresholds import apply_thresholds  # noqa: E402
from ecgnet.synth import generate_record  # noqa: E402
from experiments.ecg_measures import bandpass, r_peaks  # noqa: E402


def features(signal: np.ndarray, fs: float, age: float | None, sex: str) -> np.ndarray:
    """The 13 features (module docstring) of a (12, N) mV record at ``fs`` Hz, from its first 10 s."""
    x = signal[:, : int(10 * fs)]
    smooth = scipy.signal.medfilt(x, (1, 3))
    spikes = int(np.sum(np.diff(np.flatnonzero((np.abs(x - smooth) > 0.8).sum(axis=0) >= 3), prepend=-10) > 5))
    peaks = r_peaks(smooth, fs)
    rr = np.diff(peaks) / fs if len(peaks) > 2 else np.array([1.0, 1.0])
    clean = bandpass(smooth, fs, 0.5, 40)
    a, b = int(0.3 * fs), int(0.5 * fs)
    keep = [p for p in peaks if a <= p <= x.shape[1] - b]
    beat = np.median(np.stack([clean[:, p - a : p + b] for p in keep]), axis=0) if keep else np.zeros((12, a + b))
    slope = np.convolve(np.abs(np.diff(beat, axis=1)).sum(axis=0), np.ones(max(1, int(0.008 * fs))), "same")
    above = np.flatnonzero(slope[a - int(0.1 * fs) : a + int(0.12 * fs)] > 0.15 * slope.max()) + a - int(0.1 * fs)
    on, end = (above[0], above[-1]) if len(above) else (a, a + 1)
    qrs = beat[:, on:end + 1] - beat[:, on : on + 1]
    area = qrs.sum(axis=1)
    axis = np.arctan2(area[5], area[0])
    t = beat[[0, 1, 9, 10, 11], end + int(0.06 * fs) : end + int(0.4 * fs)] - beat[[0, 1, 9, 10, 11], end : end + 1]
    p = beat[[1, 6], on - int(0.25 * fs) : on - int(0.06 * fs)]
    return np.array([
        60 / np.median(rr), np.sqrt(np.mean(np.diff(rr) ** 2)) / rr.mean(), (rr.max() - rr.min()) / np.median(rr),
        np.sum(rr[:-1] < 0.85 * np.median(rr)), (end - on) / fs, np.sin(axis), np.cos(axis),
        (qrs[:6].max(axis=1) - qrs[:6].min(axis=1)).max(), t.mean(), spikes, np.ptp(p, axis=1).max() if p.size else 0.0,
        (age if age is not None else 60.0) / 100, sex == "Male",
    ], dtype=float)


def make(indices: range, seed: int, jobs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Features (R, 13) and labels (R, 24) of the synthetic records ``indices`` of dataset ``seed`` (``jobs`` processes)."""

    def one(i: int) -> tuple[np.ndarray, np.ndarray]:
        signal, fs, age, sex, codes = generate_record(i, seed)
        return features(signal, fs, age, sex), encode_codes(codes)

    rows = Parallel(n_jobs=jobs)(delayed(one)(i) for i in indices)
    return np.nan_to_num(np.stack([r[0] for r in rows])), np.stack([r[1] for r in rows])


def main() -> None:
    """Fit on one synthetic dataset, score on another, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="processes measuring the records (1: none started)")
    args = parser.parse_args()
    start = time.perf_counter()
    x_train, y_train = make(range(args.train), args.seed, args.jobs)
    x_test, y_test = make(range(args.test), args.seed + 1, args.jobs)
    scaler = StandardScaler().fit(x_train)
    present = y_train.any(axis=0) & ~y_train.all(axis=0)
    model = OneVsRestClassifier(LogisticRegression(max_iter=2000, C=1.0)).fit(scaler.transform(x_train), y_train[:, present])
    prob = np.zeros(y_test.shape)
    prob[:, present] = model.predict_proba(scaler.transform(x_test))
    outputs = apply_thresholds(prob, 0.5)
    normal_only = np.zeros_like(outputs)
    normal_only[:, ABBREVIATIONS.index("NSR")] = True
    print_table((f"predictor (train {args.train}, test {args.test} records)", "challenge metric"),
                [("sinus rhythm for everyone (inactive)", f"{challenge_metric(y_test, normal_only):.3f}"),
                 ("features + logistic regression", f"{challenge_metric(y_test, outputs):.3f}"),
                 ("truth", f"{challenge_metric(y_test, y_test):.3f}")])
    print()
    f1 = f_measure(y_test, outputs)[1]
    print_table(("class", "positives in test", "F1"),
                [(ABBREVIATIONS[k], y_test[:, k].sum(), f"{f1[k]:.2f}") for k in np.flatnonzero(y_test.any(axis=0))])
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
