"""Benchmark: records per second read and preprocessed into the cache, and the build's peak memory.

    .venv/bin/python bench/bench_records.py [--sizes 1000 5000] [--workers 2] [--source ../shared/data/ptbxl-dev]

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

from ecgnet.cache import build_cache  # noqa: E402
from ecgnet.records import find_records  # noqa: E402

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
            cache = build_cache(data, Path(scratch) / "cache", workers=workers, progress=False)
            seconds = time.perf_counter() - start
        if len(cache) != size:
            raise SystemExit(f"{size - len(cache)} records failed: {cache.bad_records[:3]}")
    return {"size": size, "workers": workers, "seconds": seconds, "tree": peak.tree, "main": peak.main}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"needs {args.source} (10-s 500-Hz challenge records)", file=sys.stderr)
        return 2
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
