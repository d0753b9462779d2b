"""Benchmark: records per second read and preprocessed into the cache, and the build's peak memory.

    .venv/bin/python bench/bench_records.py [--sizes 1000 5000] [--workers 2] [--source ../shared/data/ptbxl-dev]
    .venv/bin/python bench/bench_records.py --read [--against ../main] [--repeats 3]
    .venv/bin/python bench/bench_records.py --smoke [--source DIR]

``--read`` times ``records.reader.read_record`` alone (CPU seconds of one process, no workers)
over every record of ``--source``, best of three passes (the bound that used to sit in a unit
test: all 904 ptbxl-dev records in under 30 s), for this checkout and, with ``--against``, for another checkout
of the project (e.g. the reader before a change), alternating the two in fresh
processes ``--repeats`` times so that both see the same load; it prints the best time
of each and their ratio.

The input is 10-s 500-Hz records: the ptbxl-dev records plus copies of them
under new names (``HR9xxxxx``, header record line renamed, ``.mat`` bytes
copied) written to a temporary folder, enough for the largest size. Each size
is measured in a fresh Python process with a fresh directory and cache root,
built once by ``build_cache`` with the given number of joblib workers; the
time includes starting the workers. Peak memory is the largest summed RSS of the bench process and all
its descendants (the joblib workers), sampled every 10 ms, and of the bench
process alone. Target: >= 300 records/s on 2 cores (43,101 records in under
3 minutes) and a peak that does not grow with the number of records. ``--smoke`` (the
suite's check): one build of 20 records with one worker, then ``--read`` once.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, PeakMemory, add_smoke, machine, print_table  # noqa: E402
from ecgnet.data.cache import build_cache  # noqa: E402
from ecgnet.records.files import find_records  # noqa: E402

DEFAULT_SOURCE = SHARED_DATA / "ptbxl-dev"


def make_dataset(source: Path, target: Path, count: int) -> None:
    """``count`` records in ``target``: the source records, then renamed copies of them."""
    target.mkdir(parents=True)
    originals = [record.header for record in find_records(source).records]
    for i in range(count):
        header = originals[i % len(originals)]
        name = header.stem if i < len(originals) else f"HR9{i:05d}"
        lines = header.read_text().splitlines()
        first = lines[0].split(maxsplit=1)
        lines[0] = f"{name} {first[1]}"
        (target / f"{name}.hea").write_text("\n".join(lines) + "\n")
        shutil.copyfile(header.with_suffix(".mat"), target / f"{name}.mat")


def measure(source: Path, size: int, workers: int) -> dict:
    """One build of ``size`` records in this (fresh) process: seconds and peak memory."""
    with tempfile.TemporaryDirectory(prefix="bench-records-") as scratch:
        data = Path(scratch) / "data"
        make_dataset(source, data, size)
        with PeakMemory() as peak:
            start = time.perf_counter()
            cache = build_cache(data, Path(scratch) / "cache", workers=workers)
            seconds = time.perf_counter() - start
        if len(cache) != size:
            raise SystemExit(f"{size - len(cache)} records failed: {cache.bad_records[:3]}")
    return {"size": size, "workers": workers, "seconds": seconds, "tree": peak.tree, "main": peak.main}


_READ_SNIPPET = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ecgnet.records.reader import read_record
headers = sorted(Path(sys.argv[2]).glob("*.hea"))
for header in headers[:50]:  # warm: imports, caches
    read_record(header)
passes = []
for _ in range(3):
    start = time.process_time()
    for header in headers:
        read_record(header)
    passes.append(time.process_time() - start)
print(len(headers), min(passes))
"""


def time_reader(repo: Path, source: Path) -> tuple[int, float]:
    """Records read (every one of ``source``) and the CPU seconds of ``repo``'s ``read_record``, best of three passes.

    CPU time of the process, and the best pass, rather than wall time: on a shared
    machine the wall time mostly measures the other jobs.
    """
    done = subprocess.run([sys.executable, "-c", _READ_SNIPPET, str(repo), str(source)], check=True, capture_output=True, text=True)
    count, seconds = done.stdout.split()
    return int(count), float(seconds)


def compare_readers(source: Path, against: Path | None, repeats: int) -> None:
    """The ``--read`` table: best CPU seconds per checkout over all runs, records/s, and new / old time."""
    repos = {"this checkout": REPO} | ({f"against {against}": against} if against else {})
    times: dict[str, list[float]] = {label: [] for label in repos}
    count = 0
    for _ in range(repeats):
        for label, repo in repos.items():  # alternated, so a change in load hits both
            count, seconds = time_reader(repo, source)
            times[label].append(seconds)
    print(f"read_record over {count} records of {source}, {repeats} alternating runs; {machine()}\n")
    best = {label: min(values) for label, values in times.items()}
    print_table(("reader", "best CPU s", "records/s"), [(label, f"{v:.2f}", f"{count / v:.0f}") for label, v in best.items()])
    if against:
        print(f"\ntime ratio this / against: {best['this checkout'] / best[f'against {against}']:.3f}")


def main() -> int:
    """Run the sizes (or ``--read``) and print the table; 0 on success, 2 without the source records."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    parser.add_argument("--read", action="store_true", help="time read_record alone (see --against)")
    parser.add_argument("--against", type=Path, help="with --read: another checkout whose reader is timed alongside")
    parser.add_argument("--repeats", type=int, default=3, help="with --read: alternating runs per checkout")
    add_smoke(parser)
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"needs {args.source} (10-s 500-Hz challenge records)", file=sys.stderr)
        return 2
    if args.smoke:
        args.sizes, args.workers, args.repeats = [20], 1, 1
    if args.read or args.smoke:
        compare_readers(args.source, args.against, args.repeats)
        if not args.smoke:
            return 0
    if args.one:
        print(json.dumps(measure(args.source, args.one, args.workers)))
        return 0
    build_table(args.source, args.sizes, args.workers)
    return 0


def build_table(source: Path, sizes: list[int], workers: int) -> None:
    """Build the cache of each size in a fresh process (no run inherits another's heap or workers); print the table."""
    rows = []
    for size in sizes:
        command = [sys.executable, __file__, "--one", str(size), "--workers", str(workers), "--source", str(source)]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    print(f"\ncache build, 10-s 500-Hz records -> 257 Hz float32 ({source.name} + renamed copies); fresh process per row; "
          f"{machine()}\n")
    print_table(("records", "workers", "seconds", "records/s", "peak RSS all (MiB)", "peak RSS main (MiB)"),
                [(r["size"], r["workers"], f"{r['seconds']:.2f}", f"{r['size'] / r['seconds']:.0f}", f"{r['tree']:.0f}",
                  f"{r['main']:.0f}") for r in rows], align="rrrrrr")


if __name__ == "__main__":
    raise SystemExit(main())
