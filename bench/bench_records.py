"""Benchmark: records per second read and preprocessed into the cache, and the build's peak memory.

    .venv/bin/python bench/bench_records.py [--sizes 1000 5000] [--workers 2] [--source ../shared/data/ptbxl-dev]
    .venv/bin/python bench/bench_records.py --read [--against ../main] [--repeats 3]

``--read`` times ``records.read_record`` alone (CPU seconds of one process, no workers)
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
3 minutes) and a peak that does not grow with the number of records.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecgnet.data.cache import build_cache  # noqa: E402
from ecgnet.records.files import find_records  # noqa: E402

DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "ptbxl-dev"


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


class PeakMemory:
    """Samples the RSS of this process tree in a thread; ``tree`` and ``main`` peaks in MiB."""

    def __init__(self, interval: float = 0.01):
        self.interval, self.tree, self.main = interval, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            pids = _descendants(me)
            self.tree = max(self.tree, sum(_rss_kib(p) for p in pids) / 1024)
            self.main = max(self.main, _rss_kib(me) / 1024)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def make_dataset(source: Path, target: Path, count: int) -> None:
    """``count`` records in ``target``: the source records, then renamed copies of them."""
    target.mkdir(parents=True)
    originals = find_records(source)
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
    load = os.getloadavg()[0]
    print(f"read_record over {count} records of {source}, {repeats} alternating runs, load average {load:.1f}")
    print(f"{'reader':<40} {'best CPU s':>12} {'records/s':>10}")
    best = {label: min(values) for label, values in times.items()}
    for label, median in best.items():
        print(f"{label:<40} {median:>12.2f} {count / median:>10.0f}")
    if against:
        print(f"time ratio this / against: {best['this checkout'] / best[f'against {against}']:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    parser.add_argument("--read", action="store_true", help="time read_record alone (see --against)")
    parser.add_argument("--against", type=Path, help="with --read: another checkout whose reader is timed alongside")
    parser.add_argument("--repeats", type=int, default=3, help="with --read: alternating runs per checkout")
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"needs {args.source} (10-s 500-Hz challenge records)", file=sys.stderr)
        return 2
    if args.read:
        compare_readers(args.source, args.against, args.repeats)
        return 0
    if args.one:
        print(json.dumps(measure(args.source, args.one, args.workers)))
        return 0
    rows = []
    for size in args.sizes:  # each size in a fresh process, so no run inherits another's heap or workers
        command = [sys.executable, __file__, "--one", str(size), "--workers", str(args.workers), "--source", str(args.source)]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    print(f"cache build, 10-s 500-Hz records -> 257 Hz float32 ({args.source.name} + renamed copies); fresh process per row")
    print(f"{'records':>8} {'workers':>8} {'seconds':>8} {'records/s':>10} {'peak RSS all (MiB)':>19} {'peak RSS main (MiB)':>20}")
    for row in rows:
        print(f"{row['size']:>8} {row['workers']:>8} {row['seconds']:>8.2f} {row['size'] / row['seconds']:>10.0f} "
              f"{row['tree']:>19.0f} {row['main']:>20.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
