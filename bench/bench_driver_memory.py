"""Peak memory of ``driver.py`` with the full-size 5-fold ensemble: long records and many records, fp32 and bf16.

    .venv/bin/python bench/bench_driver_memory.py [--threads 2] [--many 100 1000] [--fp32-max 1000] [--long-minutes 30] [--extra-hours 2] [--smoke]

Each row is one fresh ``driver.py`` process under ``/usr/bin/time`` (its peak RSS, not
this process's: a forked child would inherit this process's high-water mark), with a
model directory of random weights with the ``default`` recipe (``bench.common.random_model_dir``;
memory and speed do not depend on the weight values) and ``threads`` torch threads:

- one ``--long-minutes`` record at 257 Hz (0 = skip; an INCART recording is 30 minutes): the
  longest record of the challenge data; its windows go through the network in batches
  of ``inference_batch``, so only the signal itself grows with the length;
- one ``--extra-hours`` record at 500 Hz (0 = skip), to show that growth;
- ``--many`` 10-s 500 Hz records (copies of 20 generated ones): flat memory means the
  counts agree. fp32 runs 5-10 records/s on 2 cores, so fp32 runs only up to
  ``--fp32-max`` records (that count is added) to keep the whole bench under 10 minutes.

Prints a Markdown table with the margin to the challenge's 13 GB inference machine.
``--smoke``: the ``smoke`` preset's network, one bf16 run over 2 records (the suite's check).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import add_smoke, driver_peak_rss, machine, print_table, random_model_dir, replicate  # noqa: E402
from ecgnet.config import PRESETS  # noqa: E402
from ecgnet.signal import num_windows, resampled_length  # noqa: E402
from ecgnet.synth import generate_dataset, generate_record  # noqa: E402
from ecgnet.synth.writer import write_record  # noqa: E402

CHALLENGE_MEMORY_GIB = 13.0  # the challenge's inference machine: 2 vCPU, 13 GB


def long_record(directory: Path, name: str, fs: int, seconds: int) -> Path:
    """One ``seconds``-long record at ``fs`` Hz: a 10-s synthetic record repeated."""
    signal, _, age, sex, codes = generate_record(0, 5, fs_choices=[fs], duration_range=(10, 10))
    write_record(directory, name, np.tile(signal, (1, seconds // 10)), fs, age, sex, codes)
    return directory


def main() -> int:
    """Run every case in a fresh driver.py and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the challenge machine has 2 vCPU)")
    parser.add_argument("--many", type=int, nargs="+", default=[100, 1000], help="record counts of the 10-s runs")
    parser.add_argument("--fp32-max", type=int, default=1000, help="largest 10-s run also timed in fp32")
    parser.add_argument("--long-minutes", type=int, default=30, help="length of the 257 Hz record (minutes; 0 = skip)")
    parser.add_argument("--extra-hours", type=float, default=2, help="length of the 500 Hz record (hours; 0 = skip)")
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.many, args.fp32_max, args.long_minutes, args.extra_hours = [2], 0, 0, 0
    preset = PRESETS["smoke" if args.smoke else "default"]  # default: what users get, band-pass and stride padding on
    config = preset.replace(threads=args.threads)
    rows: list[tuple[str, str, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = random_model_dir(tmp / "model", config)
        for label, data, precisions, windows in cases(args, config, tmp):
            for precision in precisions:
                rss, seconds = driver_peak_rss(model_dir, data, tmp / "out" / f"{data.name}-{precision}", args.threads, precision)
                rows.append((label, precision, rss, seconds, windows))
                print(f"{label}, {precision}: {rss:.0f} MiB, {seconds:.0f} s", file=sys.stderr)

    available = CHALLENGE_MEMORY_GIB * 1e9 / 2**20
    print(f"\n`driver.py`, {'smoke' if args.smoke else 'full-size'} 5-fold ensemble (random weights), {args.threads} threads; "
          f"at the end: {machine()}\n")
    print_table(("input", "precision", "windows (x5 models)", "peak RSS (MiB)", "wall (s)", "margin to 13 GB"),
                [(label, precision, f"{windows:,}", f"{rss:,.0f}", f"{seconds:.0f}",
                  f"{(available - rss) / 1024:.1f} GiB ({available / rss:.0f}x)") for label, precision, rss, seconds, windows in rows],
                align="llllll")
    return 0


def cases(args: argparse.Namespace, config, tmp: Path) -> list[tuple[str, Path, tuple[str, ...], int]]:
    """(label, record folder, precisions, windows) of every run: the long records, then the 10-s record counts."""
    found: list[tuple[str, Path, tuple[str, ...], int]] = []
    if args.long_minutes:
        minutes = args.long_minutes
        data = long_record(tmp / "long", "LONG257", 257, minutes * 60)
        found.append((f"one {minutes}-min 257 Hz record", data, ("fp32", "bf16"), num_windows(minutes * 60 * 257, config.window, config.overlap)))
    if args.extra_hours:
        seconds = int(args.extra_hours * 3600)
        data = long_record(tmp / "extra", "LONG500", 500, seconds)
        windows = num_windows(resampled_length(seconds * 500, 500), config.window, config.overlap)
        found.append((f"one {args.extra_hours:g}-h 500 Hz record", data, ("fp32", "bf16"), windows))
    generate_dataset(tmp / "synth", 20, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    for count in sorted(set(args.many) | ({args.fp32_max} if args.fp32_max > 0 else set())):
        precisions = ("fp32",) * (count <= args.fp32_max) + ("bf16",) * (count in args.many)
        found.append((f"{count:,} 10-s 500 Hz records", replicate(tmp / "synth", tmp / f"many{count}", count), precisions, count))
    return found


if __name__ == "__main__":
    raise SystemExit(main())
