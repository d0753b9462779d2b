"""Benchmark: the vectorised scorer against a plain-loop transcription, and the whole command.

    .venv/bin/python bench/bench_scorer.py [--records 16630] [--seed 0]

Labels are label sets drawn from ../shared/data/cinc2020-labels.csv (the real 2020
training label sets) when present, else from a built-in generator with similar class
frequencies. Outputs are realistic: probabilities that separate positives from
negatives imperfectly, binary outputs from a threshold plus the top class.

Reported, from one run each:
1. the challenge metric and all seven metrics (``compute_all``), vectorised vs the loop
   transcription in ``tests/reference_metric.py`` (the definitions restated record by
   record, as the official scorer computes them; the same reference the unit tests
   check ``ecgnet.metrics`` against), as a ratio; both must agree within 1e-9;
2. ``ChallengeMetric.score`` on a batch of 101 candidate outputs over 8,000 records
   (one step of the per-class threshold search) vs 101 loop calls (extrapolated);
3. the whole ``evaluate_12ECG_score.py`` command on N label and output files written to
   a temporary directory, vs the official scorer's 13.5 s for 16,630 records (METHOD.md),
   as wall time and as CPU time (which other processes on a shared machine inflate less).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the loop reference lives with the tests that check the metrics against it

import reference_metric  # noqa: E402
from ecgnet import classes, metrics  # noqa: E402
from ecgnet.outputs import write_output  # noqa: E402

LABELS_CSV = REPO.parent / "shared" / "data" / "cinc2020-labels.csv"
OFFICIAL_COMMAND_S = 13.5  # official scorer, 16,630 records, 2 cores (METHOD.md)
OFFICIAL_CALL_8000_S = 0.3  # official challenge-metric call on 8,000 records (METHOD.md)
C = classes.NUM_CLASSES


# ---- data ---------------------------------------------------------------------------------

def draw_labels(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(n, 24) label sets: real 2020 ones when the shared table is here, else generated."""
    if LABELS_CSV.exists():
        with open(LABELS_CSV, newline="") as handle:
            sets = [classes.encode_codes(row["dx"].split("|")) for row in csv.DictReader(handle)]
        pool = np.array(sets)
        return pool[rng.choice(len(pool), size=n, replace=True)], f"drawn from {LABELS_CSV.name}"
    prevalence = np.full(C, 0.03)
    prevalence[classes.NORMAL_INDEX] = 0.25
    labels = rng.random((n, C)) < prevalence
    empty = ~labels.any(axis=1)
    labels[empty, rng.integers(0, C, empty.sum())] = True
    return labels, "generated (shared label table absent)"


def realistic_outputs(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    logits = rng.normal(-3.0, 1.2, labels.shape) + labels * rng.normal(3.5, 1.5, labels.shape)
    probabilities = np.round(1 / (1 + np.exp(-logits)), 4)  # four decimals, like real output files
    outputs = probabilities >= 0.3
    outputs[np.arange(len(labels)), probabilities.argmax(axis=1)] = True
    return outputs, probabilities


# ---- timing -------------------------------------------------------------------------------

def timed(function, *args, repeat: int = 1):
    """(best wall time over ``repeat`` runs, last result)."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def max_difference(a: dict, b: dict) -> float:
    diffs = [0.0 if (math.isnan(a[m]) and math.isnan(b[m])) else abs(a[m] - b[m]) for m in metrics.METRIC_NAMES]
    return max(diffs)


def write_directories(root: Path, labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray) -> tuple[Path, Path]:
    label_dir, output_dir = root / "labels", root / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    leads = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    signal_lines = "".join(f"R.mat 16+24 1000/mV 16 0 0 0 0 {lead}\n" for lead in leads)
    for i in range(len(labels)):
        name = f"R{i:05d}"
        dx = ",".join(classes.CLASSES[k] for k in np.flatnonzero(labels[i]))
        header = f"{name} 12 500 5000\n{signal_lines}#Age: 60\n#Sex: Female\n#Dx: {dx}\n#Rx: Unknown\n#Hx: Unknown\n#Sx: Unknown\n"
        (label_dir / f"{name}.hea").write_text(header)
        write_output(output_dir / f"{name}.csv", name, classes.CLASSES, outputs[i], probabilities[i])
    return label_dir, output_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=16630)
    parser.add_argument("--search-records", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    labels, origin = draw_labels(args.records, rng)
    outputs, probabilities = realistic_outputs(labels, rng)
    weights = classes.load_weights()
    rows = []

    t_vec, vec_cm = timed(metrics.challenge_metric, labels, outputs, repeat=5)
    t_loop, loop_cm = timed(reference_metric.challenge_metric, labels, outputs, weights)
    assert abs(vec_cm - loop_cm) <= 1e-9, (vec_cm, loop_cm)
    rows.append((f"challenge metric, {args.records} records", t_loop, t_vec, f"{t_loop / t_vec:,.0f}x", ">= 100x"))

    t_vec_all, vec_all = timed(metrics.compute_all, labels, outputs, probabilities, repeat=3)
    t_loop_all, loop_all = timed(reference_metric.compute_all, labels, outputs, probabilities, weights)
    assert max_difference(vec_all, loop_all) <= 1e-9, (vec_all, loop_all)
    rows.append((f"all seven metrics, {args.records} records", t_loop_all, t_vec_all, f"{t_loop_all / t_vec_all:,.0f}x", ""))

    n = args.search_records
    metric = metrics.ChallengeMetric(labels[:n])
    batch = np.repeat(outputs[None, :n], 101, axis=0)
    batch[:, :, 0] = probabilities[None, :n, 0] >= np.linspace(0, 1, 101)[:, None]
    t_batch, batch_scores = timed(metric.score, batch, repeat=5)
    t_one_loop, one = timed(reference_metric.challenge_metric, labels[:n], batch[50], weights)
    assert abs(batch_scores[50] - one) <= 1e-9
    rows.append((f"101 candidates x {n} records (loop: 101 x one call)", 101 * t_one_loop, t_batch, f"{101 * t_one_loop / t_batch:,.0f}x",
                 f"official ~{101 * OFFICIAL_CALL_8000_S:.0f} s"))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        label_dir, output_dir = write_directories(Path(tmp), labels, outputs, probabilities)
        t_write = time.perf_counter() - start
        scores = Path(tmp) / "scores.csv"
        command = [sys.executable, str(REPO / "evaluate_12ECG_score.py"), str(label_dir), str(output_dir), str(scores)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        t_command = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_command = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"scorer failed: {result.stderr}")
        written = dict(zip(metrics.METRIC_NAMES, map(float, scores.read_text().splitlines()[1].split(","))))
        assert max_difference(written, vec_all) <= 1e-9
    rows.append((f"whole command, {args.records} files (official: {OFFICIAL_COMMAND_S} s)", OFFICIAL_COMMAND_S, t_command,
                 f"{OFFICIAL_COMMAND_S / t_command:,.1f}x", ">= 10x"))
    rows.append(("  the same, CPU time (user + sys) instead of wall time", OFFICIAL_COMMAND_S, cpu_command,
                 f"{OFFICIAL_COMMAND_S / cpu_command:,.1f}x", ""))

    print(f"labels: {args.records} records {origin}; seed {args.seed}; numpy {np.__version__}; python {sys.version.split()[0]}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end (other processes share the machine when > 0)")
    print(f"(writing the {args.records} header + output files for the command took {t_write:.2f} s, not counted)")
    print()
    print(f"| {'what':<58} | {'loop / official':>15} | {'ecgnet':>10} | {'speed-up':>9} | {'target':>16} |")
    print(f"|{'-' * 60}|{'-' * 16}:|{'-' * 11}:|{'-' * 10}:|{'-' * 17}:|")
    for what, reference, ours, ratio, target in rows:
        print(f"| {what:<58} | {reference:>13.3f} s | {ours * 1000:>7.1f} ms | {ratio:>9} | {target:>16} |")


if __name__ == "__main__":
    main()
