"""Review packet cost: seconds to draw and render N cases and the packet's size; agreement's time.

Usage: .venv/bin/python bench/bench_review.py RESULTS_DIR [--sizes 20 100] [--resamples 2000]
       .venv/bin/python bench/bench_review.py --smoke
RESULTS_DIR is any cv results directory (e.g. `python -m ecgnet cv DATA --config smoke --out RESULTS_DIR`).
Cases are drawn with --kind random so that every size can be reached. Prints a table.
``--smoke`` (the suite's check): 4 cases from a results directory made up here (12 synthetic
records with random out-of-fold scores: no training), 50 bootstrap resamples.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import add_smoke, machine, print_table  # noqa: E402
from ecgnet.analysis.agreement import agreement, read_key  # noqa: E402
from ecgnet.analysis.review import KEY_DIR, PACKET_DIR, PACKET_FILE, load_results, write_review  # noqa: E402
from ecgnet.challenge.classes import class_index  # noqa: E402
from ecgnet.console import set_quiet  # noqa: E402
from ecgnet.fileio import OutOfFold, write_oof, write_summary  # noqa: E402
from ecgnet.records.reader import read_record  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402


def made_up_results(folder: Path, n: int = 12) -> Path:
    """A cv results directory of ``n`` synthetic records with random out-of-fold scores (no model behind them)."""
    headers = generate_dataset(folder / "data", n, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    rng = np.random.default_rng(0)
    probabilities = rng.random((n, 24))
    labels = np.array([read_record(header).labels for header in headers], dtype=bool)
    write_oof(folder, OutOfFold([h.stem for h in headers], ["synthetic"] * n, np.arange(n) % 5, labels, probabilities,
                                probabilities >= 0.5))
    write_summary(folder, {"data_dir": str(folder / "data"), "config": {}})
    return folder


def row(results, n: int, resamples: int) -> tuple:
    """(cases, review seconds, cases/s, packet MB, KB per case, agreement seconds) of one packet of ``n`` cases."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_review(results, class_index("LAD"), n, Path(tmp), kind="random", seed=0)
        seconds = time.perf_counter() - start
        size = (Path(tmp) / PACKET_DIR / PACKET_FILE).stat().st_size
        key = read_key(Path(tmp) / KEY_DIR)
        rng = np.random.default_rng(0)
        raters = {name: rng.integers(-1, 2, len(key.cases)) for name in ("a", "b")}
        start = time.perf_counter()
        agreement(key, raters, resamples=resamples)
        kappa_seconds = time.perf_counter() - start
    cases = len(key.cases)
    return cases, f"{seconds:.1f}", f"{cases / seconds:.2f}", f"{size / 1e6:.1f}", f"{size / 1e3 / cases:.0f}", f"{kappa_seconds:.2f}"


def main() -> int:
    """Time each size and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path, nargs="?", help="a cv results directory (not with --smoke)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--resamples", type=int, default=2000)
    add_smoke(parser)
    args = parser.parse_args()
    if (args.results_dir is None) != args.smoke:
        parser.error("give RESULTS_DIR, or --smoke alone")
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            args.results_dir, args.sizes, args.resamples = made_up_results(Path(tmp)), [4], 50
        results = load_results(args.results_dir)
        rows = [row(results, n, args.resamples) for n in args.sizes]
    print(f"{machine()}\n")
    print_table(("cases", "review seconds", "cases/s", "packet MB", "KB per case", "agreement, 2 raters (s)"), rows, align="rrrrrr")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
