"""Synthetic generator throughput: records per second for 10-s 500 Hz records.

Usage: .venv/bin/python bench/bench_synth.py [--n 400] [--workers 2]    (the suite runs --n 4 --workers 1)
Prints a table: in-memory generation on one core, and generation + writing
(.hea + .mat) with joblib workers, the way `python -m ecgnet synth` runs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, print_table  # noqa: E402
from ecgnet.synth import generate_dataset, generate_record  # noqa: E402


def main() -> None:
    """Time generation in memory and written to disk; print the table of records per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    start = time.perf_counter()
    for i in range(args.n):
        generate_record(i, 0, fs=500.0, duration=10.0)
    rows.append(("generate_record, in memory", 1, args.n / (time.perf_counter() - start)))
    for workers in sorted({1, args.workers}):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_dataset(tmp, args.n, seed=0, workers=workers, fs_choices=[500.0], duration_range=(10.0, 10.0))
            rows.append(("generate_dataset, written to disk", workers, args.n / (time.perf_counter() - start)))
    print(f"{machine()}\n")
    print_table((f"what ({args.n} records, 10 s, 500 Hz)", "processes", "records/s"), [(w, k, f"{r:.0f}") for w, k, r in rows])


if __name__ == "__main__":
    main()
