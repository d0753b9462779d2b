"""Review packet cost: seconds to draw and render N cases and the packet's size; agreement's time.

Usage: .venv/bin/python bench/bench_review.py RESULTS_DIR [--sizes 20 100]
RESULTS_DIR is any cv results directory (e.g. `python -m ecgnet cv DATA --config smoke --out RESULTS_DIR`).
Cases are drawn with --kind random so that every size can be reached. Prints a table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecgnet.analysis.agreement import agreement, read_key  # noqa: E402
from ecgnet.analysis.review import KEY_DIR, PACKET_DIR, PACKET_FILE, load_results, write_review  # noqa: E402
from ecgnet.challenge.classes import class_index  # noqa: E402
from ecgnet.console import set_quiet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    set_quiet(True)
    results = load_results(args.results_dir)
    print("| cases | review seconds | cases/s | packet MB | KB per case | agreement, 2 raters (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_review(results, class_index("LAD"), n, Path(tmp), kind="random", seed=0)
            seconds = time.perf_counter() - start
            size = (Path(tmp) / PACKET_DIR / PACKET_FILE).stat().st_size
            key = read_key(Path(tmp) / KEY_DIR)
            rng = np.random.default_rng(0)
            raters = {name: rng.integers(-1, 2, len(key.cases)) for name in ("a", "b")}
            start = time.perf_counter()
            agreement(key, raters, resamples=args.resamples)
            kappa_seconds = time.perf_counter() - start
        cases = len(key.cases)
        print(f"| {cases} | {seconds:.1f} | {cases / seconds:.2f} | {size / 1e6:.1f} | {size / 1e3 / cases:.0f} | {kappa_seconds:.2f} |")


if __name__ == "__main__":
    main()
