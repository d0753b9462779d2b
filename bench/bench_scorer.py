"""Benchmark: the vectorised scorer against a plain-loop transcription, and the whole commands of 2020 and 2021.

    .venv/bin/python bench/bench_scorer.py [--records 16630] [--search-records 8000] [--seed 0]

Labels are label sets drawn from ../shared/data/cinc2020-labels.csv (the real 2020
training label sets) when present, else from a built-in generator with similar class
frequencies. Outputs are realistic: probabilities that separate positives from
negatives imperfectly, binary outputs from a threshold plus the top class.

Reported, from one run each:
1. the challenge metric and all seven metrics (``compute_all``), vectorised vs the loop
   transcription in ``bench/reference_metric.py`` (the definitions restated record by
   record, as the official scorer computes them; a copy of ``tests/reference_metric.py``,
   which the unit tests check ``ecgnet.challenge.metrics`` against), as a ratio; both must
   agree within 1e-9;
2. ``ChallengeMetric.score`` on a batch of 101 candidate outputs over 8,000 records
   (one step of the per-class threshold search) vs 101 loop calls (extrapolated);
3. the whole ``evaluate_12ECG_score.py`` command on N label and output files written to
   a temporary directory, vs the official scorer's 13.5 s for 16,630 records (METHOD.md),
   as wall time and as CPU time (which other processes on a shared machine inflate less);
4. the same for the 2021 command, ``evaluate_model.py``, on the same label sets in the 2021
   classes (none has BBB or PRWP), vs the organisers' 2021 ``evaluate_model.py`` run here on
   the same files when ../shared/official-harness/2021/evaluation is present (its 3-decimal
   scores must equal ours rounded).
"""
from __future__ import annotations

import argparse
import csv
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import reference_metric  # noqa: E402
from bench.common import SHARED_DATA, best_time, machine, print_table  # noqa: E402
from ecgnet.challenge import classes, metrics  # noqa: E402
from ecgnet.scoring2021 import METRIC_NAMES as METRIC_NAMES_2021  # noqa: E402
from ecgnet.inference.outputs import write_output  # noqa: E402
from ecgnet.synth.writer import format_header  # noqa: E402

LABELS_CSV = SHARED_DATA / "cinc2020-labels.csv"
OFFICIAL_COMMAND_S = 13.5  # official scorer, 16,630 records, 2 cores (METHOD.md)
OFFICIAL_CALL_8000_S = 0.3  # official challenge-metric call on 8,000 records (METHOD.md)
OFFICIAL_2021 = SHARED_DATA.parent / "official-harness" / "2021" / "evaluation"  # evaluate_model.py, reads ./weights.csv
C = classes.NUM_CLASSES
CLASSES_2021 = classes.class_set("2021")


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
    """(N, C) binary outputs and probabilities that separate positives imperfectly: threshold 0.3 plus the top class."""
    logits = rng.normal(-3.0, 1.2, labels.shape) + labels * rng.normal(3.5, 1.5, labels.shape)
    probabilities = np.round(1 / (1 + np.exp(-logits)), 4)  # four decimals, like real output files
    outputs = probabilities >= 0.3
    outputs[np.arange(len(labels)), probabilities.argmax(axis=1)] = True
    return outputs, probabilities


# ---- measures ------------------------------------------------------------------------------

def max_difference(a: dict, b: dict) -> float:
    """Largest absolute difference over ``METRIC_NAMES`` of two score dicts (NaN equals NaN)."""
    diffs = [0.0 if (math.isnan(a[m]) and math.isnan(b[m])) else abs(a[m] - b[m]) for m in metrics.METRIC_NAMES]
    return max(diffs)


def in_2021_classes(labels: np.ndarray) -> np.ndarray:
    """(N, 24) 2020 label sets as (N, 26) 2021 ones: each 2020 class is the 2021 class holding its code."""
    moved = np.zeros((len(labels), CLASSES_2021.num_classes), dtype=bool)
    moved[:, [CLASSES_2021.code_index[code] for code in classes.CLASSES]] = labels
    return moved


def write_directories(root: Path, labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray,
                      codes: tuple[str, ...] = classes.CLASSES) -> tuple[Path, Path]:
    """One label header (10-s 500 Hz, no signal file: the scorers read only #Dx) and one output file per record.

    ``codes`` (C,) names the classes; the output files (``#NAME``, then the codes, binary outputs and
    probabilities) are in the layout both years' scorers read.
    """
    label_dir, output_dir = root / "labels", root / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    no_signal = np.zeros((12, 5000), dtype=np.int16)
    for i in range(len(labels)):
        name = f"R{i:05d}"
        dx = ",".join(codes[k] for k in np.flatnonzero(labels[i]))
        (label_dir / f"{name}.hea").write_text(format_header(name, no_signal, 500, age="60", sex="Female", dx=dx))
        write_output(output_dir / f"{name}.csv", name, codes, outputs[i], probabilities[i])
    return label_dir, output_dir


def function_rows(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray, search_records: int) -> tuple[list[tuple], dict]:
    """Table rows 1 and 2 (vectorised vs loop reference, asserting agreement within 1e-9) and the seven vectorised values."""
    weights = classes.load_weights()
    t_vec, vec_cm = best_time(metrics.challenge_metric, labels, outputs, repeat=5)
    t_loop, loop_cm = best_time(reference_metric.challenge_metric, labels, outputs, weights)
    assert abs(vec_cm - loop_cm) <= 1e-9, (vec_cm, loop_cm)
    rows = [(f"challenge metric, {len(labels)} records", t_loop, t_vec, f"{t_loop / t_vec:,.0f}x", ">= 100x")]

    t_vec_all, vec_all = best_time(metrics.compute_all, labels, outputs, probabilities, repeat=3)
    t_loop_all, loop_all = best_time(reference_metric.compute_all, labels, outputs, probabilities, weights)
    assert max_difference(vec_all, loop_all) <= 1e-9, (vec_all, loop_all)
    rows.append((f"all seven metrics, {len(labels)} records", t_loop_all, t_vec_all, f"{t_loop_all / t_vec_all:,.0f}x", ""))

    n = search_records
    metric = metrics.ChallengeMetric(labels[:n])
    batch = np.repeat(outputs[None, :n], 101, axis=0)
    batch[:, :, 0] = probabilities[None, :n, 0] >= np.linspace(0, 1, 101)[:, None]
    t_batch, batch_scores = best_time(metric.score, batch, repeat=5)
    t_one_loop, one = best_time(reference_metric.challenge_metric, labels[:n], batch[50], weights)
    assert abs(batch_scores[50] - one) <= 1e-9
    rows.append((f"101 candidates x {n} records (loop: 101 x one call)", 101 * t_one_loop, t_batch, f"{101 * t_one_loop / t_batch:,.0f}x",
                 f"official ~{101 * OFFICIAL_CALL_8000_S:.0f} s"))
    return rows, vec_all


def run_timed(command: list[str], cwd: str | Path) -> tuple[float, float]:
    """Run ``command`` in ``cwd``: its wall and CPU (user + sys) seconds; exits naming the failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def read_scores(path: Path) -> dict[str, float]:
    """A scores file (a header line of names, a line of values) as a dict."""
    names, values = path.read_text().splitlines()[:2]
    return dict(zip(names.split(","), map(float, values.split(",")), strict=True))


def command_rows(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray, expected: dict) -> tuple[list[tuple], float]:
    """Table row 3: the whole scorer command on files in a temporary folder (wall and CPU s); and the s spent writing them."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        label_dir, output_dir = write_directories(Path(tmp), labels, outputs, probabilities)
        t_write = time.perf_counter() - start
        scores = Path(tmp) / "scores.csv"
        command = [sys.executable, str(REPO / "evaluate_12ECG_score.py"), str(label_dir), str(output_dir), str(scores)]
        t_command, cpu_command = run_timed(command, tmp)
        assert max_difference(read_scores(scores), expected) <= 1e-9
    rows = [(f"whole command, {len(labels)} files (official: {OFFICIAL_COMMAND_S} s)", OFFICIAL_COMMAND_S, t_command,
             f"{OFFICIAL_COMMAND_S / t_command:,.1f}x", ">= 10x"),
            ("  the same, CPU time (user + sys) instead of wall time", OFFICIAL_COMMAND_S, cpu_command,
             f"{OFFICIAL_COMMAND_S / cpu_command:,.1f}x", "")]
    return rows, t_write


def command_2021_rows(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray) -> list[tuple]:
    """Table row 4: ``evaluate_model.py`` and, when present, the official 2021 scorer on the same files (wall and CPU s)."""
    with tempfile.TemporaryDirectory() as tmp:
        label_dir, output_dir = write_directories(Path(tmp), labels, outputs, probabilities, CLASSES_2021.codes)
        ours, theirs = Path(tmp) / "scores.csv", Path(tmp) / "official.csv"
        wall, cpu = run_timed([sys.executable, str(REPO / "evaluate_model.py"), str(label_dir), str(output_dir), str(ours)], tmp)
        if not (OFFICIAL_2021 / "evaluate_model.py").exists():
            return [(f"2021 command, {len(labels)} files (official absent: {OFFICIAL_2021})", math.nan, wall, "", "")]
        official_wall, official_cpu = run_timed([sys.executable, "evaluate_model.py", str(label_dir), str(output_dir), str(theirs)],
                                                OFFICIAL_2021)
        values, official = read_scores(ours), read_scores(theirs)
        assert list(values) == list(official) == list(METRIC_NAMES_2021)
        assert all(f"{values[m]:.3f}" == f"{official[m]:.3f}" for m in values), (values, official)
    return [(f"2021 command, {len(labels)} files (official evaluate_model.py, run here)", official_wall, wall,
             f"{official_wall / wall:,.1f}x", ""),
            ("  the same, CPU time (user + sys) instead of wall time", official_cpu, cpu, f"{official_cpu / cpu:,.1f}x", "")]


def main() -> None:
    """Draw the data, measure, print the machine and the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=16630)
    parser.add_argument("--search-records", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    labels, origin = draw_labels(args.records, rng)
    outputs, probabilities = realistic_outputs(labels, rng)
    rows, vectorised = function_rows(labels, outputs, probabilities, args.search_records)
    more, t_write = command_rows(labels, outputs, probabilities, vectorised)
    labels_2021 = in_2021_classes(labels)
    more += command_2021_rows(labels_2021, *realistic_outputs(labels_2021, rng))

    print(f"labels: {args.records} records {origin}; seed {args.seed}; at the end: {machine()}")
    print(f"(writing the {args.records} header + output files for the command took {t_write:.2f} s, not counted)\n")
    print_table(("what", "loop / official", "ecgnet", "speed-up", "target"),
                [(what, "" if math.isnan(reference) else f"{reference:.3f} s", f"{ours * 1000:.1f} ms", ratio, target)
                 for what, reference, ours, ratio, target in rows + more])


if __name__ == "__main__":
    main()
