"""Can the training loader feed a GPU? Samples/s the loader supplies against samples/s the model consumes.

    .venv/bin/python bench/bench_loader.py [--data DIR] [--workers 0 1 2] [--samples 6000] [--batch 64]
                                           [--window 4096] [--train-steps 3] [--target 8000] [--smoke]

Prints one Markdown table:

- the loader alone (``loader.EpochLoader``, as training uses it: epochs planned in this
  process, windows cut from the memory-mapped cache) at each worker count: samples/s
  once the workers are running, and their start-up time;
- the per-sample cost: the seconds of one core per training window, measured with 0
  workers (this process does everything), and the planning share of it (``plan_epoch``,
  which stays in the training process whatever the worker count);
- the cores the loader needs to supply ``--target`` samples/s (8,000: one H100 running
  the full-size network) = target x per-sample cost;
- the samples/s the full-size network consumes in training steps here (fp32 on the CPU,
  ``bench.common.training_rate``; CUDA with fp16 autocast when a GPU is present).

The records are those of ``--data`` (default: the 145 real challenge records in the
shared folder), cached once under a temporary folder; epochs repeat until ``--samples``
windows were cut. ``--smoke`` (the suite's check): 64 windows of 1,024 samples in batches
of 8, 0 workers, one training step of the ``smoke`` preset's network.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, add_smoke, machine, print_table, training_rate  # noqa: E402
from ecgnet.config import PRESETS, Config  # noqa: E402
from ecgnet.data.cache import build_cache  # noqa: E402
from ecgnet.data.loader import EpochLoader, plan_epoch  # noqa: E402
from ecgnet.device import choose_device  # noqa: E402

DEFAULT_DATA = SHARED_DATA / "cinc2020-real"


def loader_rate(cache, workers: int, samples: int, batch: int, window: int) -> tuple[float, float]:
    """(samples/s after the first batch, seconds to the first batch) of ``EpochLoader`` with ``workers`` processes."""
    feed = EpochLoader(cache, window, workers, pin_memory=torch.cuda.is_available())
    indices, rng = np.arange(len(cache)), np.random.default_rng(0)
    begun, first, count = time.perf_counter(), None, 0
    while count < samples:
        batches, _ = feed.epoch(indices, batch, rng)
        for signals, _, _, _ in batches:
            if first is None:
                first = time.perf_counter()
            else:
                count += len(signals)
    return count / (time.perf_counter() - first), first - begun


def planning_cost(cache, batch: int, window: int, repeats: int = 20) -> float:
    """Seconds per sample of ``plan_epoch`` (order and crop offsets), the part the training process keeps."""
    lengths, indices, rng = np.asarray(cache.lengths), np.arange(len(cache)), np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(repeats):
        plan_epoch(lengths, indices, window, batch, rng)
    return (time.perf_counter() - start) / (repeats * len(cache))


def main() -> int:
    """Measure and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--target", type=float, default=8000.0)
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.samples, args.batch, args.window, args.train_steps = [0], 64, 8, 1024, 1
    if not args.data.is_dir():
        print(f"needs {args.data} (challenge records; --data DIR)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # the loader's workers are single-threaded too: one core each
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(args.data, Path(tmp) / "cache", workers=1)
        rows = []
        for workers in args.workers:
            rate, startup = loader_rate(cache, workers, args.samples, args.batch, args.window)
            rows.append((f"loader alone, {workers} worker(s): samples/s (start-up)", f"{rate:,.0f} ({startup:.2f} s)"))
            if workers == 0:
                per_sample = 1.0 / rate
        plan = planning_cost(cache, args.batch, args.window)
    device = choose_device()
    torch.set_num_threads(os.cpu_count() or 1)
    network = PRESETS["smoke"] if args.smoke else Config()
    consumed = training_rate(network, device, batch=32 if device.type == "cpu" else 256, steps=args.train_steps)
    rows += [
        ("per-sample cost, 1 core (0 workers)", f"{per_sample * 1e6:.0f} us"),
        ("  of which planning (stays in the training process)", f"{plan * 1e6:.1f} us"),
        (f"cores to supply {args.target:,.0f} samples/s", f"{args.target * per_sample:.1f}"),
        (f"{'smoke' if args.smoke else 'full-size'} network consumes ({device.type}, training steps)", f"{consumed:,.1f} samples/s"),
    ]
    print(f"{len(cache)} records from {args.data}, window {args.window}, batch {args.batch}; {machine()}\n")
    print_table(("what", "value"), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
