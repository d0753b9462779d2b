"""Can the training loader feed a GPU, and what does each recipe cost it? Windows/s per worker process, and epochs.

    .venv/bin/python bench/bench_loader.py [--data DIR] [--workers 0 1 2] [--samples 6000] [--batch 64]
                                           [--window 4096] [--target 8000] [--epoch-records 0] [--smoke]

Prints three Markdown tables:

- the loader alone (``loader.EpochLoader``, as training uses it: epochs planned in this
  process, windows cut from the memory-mapped cache) for three recipes (``plain``: no levers;
  ``default``: the adopted levers, ``config.ADOPTED_LEVERS``; ``default + augmentation``: with
  the ablation's augmentation row, ``experiments/ablation.py``'s ``ROWS["augment"]``) at each
  worker count: windows/s once the batches flow (wall clock: on a shared machine, the load's
  share too), the CPU time per window of the training process's thread, and the seconds from
  building the loader to its first batch;
- each recipe's cost in one process: the CPU time per window with 0 workers (that thread cuts
  and augments every window, so its CPU time is what a worker process spends on one, however
  loaded the machine), the windows/s one worker process supplies with a core to itself (per
  CPU-second), and the worker processes that supply ``--target`` windows/s (8,000: one H100
  running the full-size network); then the seconds to prepare the records' inputs once for
  the default recipe (``cache.prepare_inputs``, which the first loader of a recipe does and
  later ones reuse) and the planning cost per window (``plan_epoch``, which stays in the
  training process whatever the worker count);
- one training epoch over the records on the CPU (fp32, every core, 0 loader workers as on the
  CPU) of the ``cpu`` preset (full-size network) and of the ablation's small network
  (``experiments/ablation.py``'s ``BASE``) with the adopted levers, each with augmentation off
  and on: seconds, the part spent waiting for batches and the CPU time spent cutting them, and
  what augmentation adds to each.

The records are those at the top of ``--data`` (default: the 145 real challenge records in the
shared folder), cached once under a temporary folder; loader rows repeat epochs until ``--samples``
windows were cut; the epoch takes the first ``--epoch-records`` records (0: all).
``--smoke`` (the suite's check): 64 windows of 1,024 samples in batches of 8 with 1 worker (and
0 for the one-process cost), and an epoch of the ``smoke`` preset.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, add_smoke, machine, print_table  # noqa: E402
from ecgnet.config import ADOPTED_LEVERS, PRESETS, Config  # noqa: E402
from ecgnet.data.cache import build_cache, prepare_inputs  # noqa: E402
from ecgnet.data.loader import EpochLoader, plan_epoch  # noqa: E402
from ecgnet.device import set_threads  # noqa: E402
from ecgnet.signal import augment, cut_window  # noqa: E402
from ecgnet.training.train import batch_loss, training_model  # noqa: E402
from experiments.ablation import BASE, ROWS  # noqa: E402

DEFAULT_DATA = SHARED_DATA / "cinc2020-real"
AUGMENTATION = ROWS["augment"]  # the ablation's augmentation: stretch 5 %, amplitude sd 0.1, wander, noise, lead dropout


def recipes(window: int) -> dict[str, Config | None]:
    """The loader's recipes by name at ``window`` samples: None is the plain crop (no levers)."""
    default = Config(window=window, **ADOPTED_LEVERS)
    return {"plain": None, "default": default, "default + augmentation": default.replace(**AUGMENTATION)}


def top_level_records(data: Path, folder: Path) -> Path:
    """``folder`` of links to the records at the top of ``data`` (the shared folder's edge-cases/ are broken on purpose)."""
    folder.mkdir()
    for path in data.iterdir():
        if path.suffix in (".hea", ".mat"):
            (folder / path.name).symlink_to(path.resolve())
    return folder


def loader_rate(cache, config: Config | None, workers: int, samples: int, batch: int, window: int) -> tuple[float, float, float]:
    """(windows/s after the first batch, CPU seconds per window of this thread meanwhile, seconds from building
    ``EpochLoader`` to its first batch) with ``workers`` processes. With 0 workers this thread does all the work, so its
    CPU time is what one process spends on a window, whatever else the machine runs."""
    begun = time.perf_counter()
    feed = EpochLoader(cache, window, workers, pin_memory=torch.cuda.is_available(), config=config)
    indices, rng = np.arange(len(cache)), np.random.default_rng(0)
    first, cpu, count = None, 0.0, 0
    while count < samples:
        batches, _ = feed.epoch(indices, batch, rng)
        for signals, _, _, _ in batches:
            if first is None:
                first, cpu = time.perf_counter(), time.thread_time()
            else:
                count += len(signals)
    return count / (time.perf_counter() - first), (time.thread_time() - cpu) / count, first - begun


def planning_cost(cache, batch: int, window: int, repeats: int = 20) -> float:
    """Seconds per window of ``plan_epoch`` (order and crop offsets), the part the training process keeps."""
    lengths, indices, rng = np.asarray(cache.lengths), np.arange(len(cache)), np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(repeats):
        plan_epoch(lengths, indices, window, batch, rng)
    return (time.perf_counter() - start) / (repeats * len(cache))


def epoch_seconds(cache, config: Config, records: np.ndarray) -> tuple[float, float, float]:
    """(seconds of one training epoch of ``config`` over ``records`` on the CPU with 0 loader workers, of which waiting
    for batches, and the CPU seconds this thread spent cutting them meanwhile)."""
    device = torch.device("cpu")
    model = training_model(config, device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    feed = EpochLoader(cache, config.window, 0, pin_memory=False, config=config)

    def step(signals, demographics, targets, count) -> None:
        loss, _ = batch_loss(model, signals, demographics, targets, count)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    warm_up, _ = feed.epoch(records[:2], 2, np.random.default_rng(1))  # first-step allocations and the loader's one-time work
    step(*next(iter(warm_up)))
    batches, _ = feed.epoch(records, config.batch_size, np.random.default_rng(0))
    began, waiting, cpu = time.perf_counter(), 0.0, 0.0
    while True:
        asked, asked_cpu = time.perf_counter(), time.thread_time()
        item = next(batches, None)
        waiting, cpu = waiting + time.perf_counter() - asked, cpu + time.thread_time() - asked_cpu
        if item is None:
            return time.perf_counter() - began, waiting, cpu
        step(*item)


def loader_rows(cache, args) -> tuple[list[tuple], list[tuple], float]:
    """(the first table's rows: each recipe at each worker count, the second's: each recipe's cost in one process,
    seconds to prepare the records' inputs once)."""
    torch.set_num_threads(1)  # the loader's workers are single-threaded too: one core each
    chosen = recipes(args.window)
    began = time.perf_counter()
    prepare_inputs(cache, chosen["default"], workers=1)  # what the first loader of the recipe does, timed apart
    preparing = time.perf_counter() - began
    rows, costs = [], []
    for name, config in chosen.items():
        runs = {w: loader_rate(cache, config, w, args.samples, args.batch, args.window) for w in sorted({0, *args.workers})}
        rows += [(name, w, f"{runs[w][0]:,.0f}", f"{runs[w][1] * 1e6:,.0f}", f"{runs[w][2]:.2f}") for w in args.workers]
        cost = runs[0][1]  # CPU seconds per window of the one process that does everything
        costs.append((name, f"{cost * 1e6:,.0f}", f"{1 / cost:,.0f}", math.ceil(args.target * cost)))
    return rows, costs, preparing


def cpu_per_window(function, batch: np.ndarray, repeats: int) -> float:
    """CPU seconds of this thread per window of ``function(windows)`` on copies of ``batch`` (B, 12, L), the least of ``repeats``."""
    costs = []
    for _ in range(repeats):
        windows = batch.copy()
        began = time.thread_time()
        function(windows)
        costs.append((time.thread_time() - began) / len(batch))
    return min(costs)


def augmentation_rows(cache, batch: int, window: int, repeats: int = 5) -> list[tuple]:
    """The third table's rows: the CPU time per window of each augmentation alone (the ablation's settings) and of the
    noise drawn with ``Generator.standard_normal`` instead, on a batch of the cache's first records."""
    records = [cache.signal(i % len(cache)) for i in range(batch)]
    windows = np.zeros((batch, records[0].shape[0], window), dtype=np.float32)
    rng = np.random.default_rng(0)

    def cut(factor: float):
        return lambda out: [cut_window(signal, 0, row, factor) for signal, row in zip(records, out, strict=True)]

    def alone(key: str):
        return lambda out: augment(out, Config(**{key: AUGMENTATION[key]}), rng)

    def numpy_noise(out: np.ndarray) -> None:
        out += AUGMENTATION["augment_noise_mv"] * rng.standard_normal(out.shape, dtype=np.float32)

    stretched = 1 + AUGMENTATION["augment_stretch"]
    functions = {"cut, no stretch (signal.cut_window)": cut(1.0), f"cut, stretched by {stretched}": cut(stretched)}
    functions.update({key: alone(key) for key in AUGMENTATION if key != "augment_stretch"})
    functions["augment_noise_mv with Generator.standard_normal (for comparison)"] = numpy_noise
    return [(name, f"{cpu_per_window(function, windows, repeats) * 1e6:,.0f}") for name, function in functions.items()]


def epoch_configs(smoke: bool) -> dict[str, Config]:
    """The networks whose epochs are timed: the ``cpu`` preset, and the ablation's small one (``experiments/ablation.py``'s
    ``BASE``) with the adopted levers; for ``smoke``, the ``smoke`` preset."""
    if smoke:
        return {"`smoke`": PRESETS["smoke"]}
    small = Config.from_dict({**PRESETS[BASE["preset"]].to_dict(), **{k: v for k, v in BASE.items() if k != "preset"}, **ADOPTED_LEVERS})
    return {"`cpu`": PRESETS["cpu"], "ablation's base + adopted levers": small}


def epoch_rows(cache, configs: dict[str, Config], count: int) -> list[tuple]:
    """The last table's rows: one epoch of each of ``configs`` with augmentation off, on, and what augmentation adds."""
    threads = set_threads(0)
    records = np.arange(count or len(cache))
    rows = []
    for name, config in configs.items():
        config = config.replace(threads=threads)
        off = epoch_seconds(cache, config, records)
        on = epoch_seconds(cache, config.replace(**AUGMENTATION), records)
        rows += [(f"{name}, augmentation {label} ({len(records)} windows, {threads} threads)", f"{seconds:.1f}", f"{waiting:.2f}",
                  f"{cpu:.2f}", f"{len(records) / seconds:.1f}") for label, (seconds, waiting, cpu) in (("off", off), ("on", on))]
        rows.append((f"{name}: on / off, and what augmentation adds", f"{on[0] / off[0]:.2f}x", f"{on[1] - off[1]:+.2f}",
                     f"{on[2] - off[2]:+.2f}", ""))
    return rows


def main() -> int:
    """Measure and print the tables; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--target", type=float, default=8000.0)
    parser.add_argument("--epoch-records", type=int, default=0)
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.samples, args.batch, args.window = [1], 64, 8, 1024
    if not args.data.is_dir():
        print(f"needs {args.data} (challenge records; --data DIR)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(top_level_records(args.data, Path(tmp) / "data"), Path(tmp) / "cache", workers=1)
        loading, costs, preparing = loader_rows(cache, args)
        plan = planning_cost(cache, args.batch, args.window)
        components = augmentation_rows(cache, args.batch, args.window)
        epochs = epoch_rows(cache, epoch_configs(args.smoke), args.epoch_records)
    print(f"{len(cache)} records from {args.data}, window {args.window}, batch {args.batch}; {machine()}\n")
    print_table(("recipe", "workers", "windows/s", "CPU per window in the training process (us)", "to first batch (s)"), loading,
                align="lrrrr")
    print()
    print_table(("recipe", "CPU per window, one process (us)", "windows/s per worker process (per CPU-second)",
                 f"worker processes for {args.target:,.0f}/s"), costs)
    print(f"\ninputs of the default recipe prepared once (cache.prepare_inputs, 1 process): {preparing:.1f} s; "
          f"planning (stays in the training process): {plan * 1e6:.1f} us per window\n")
    print_table(("each augmentation alone (signal.augment, a batch at a time)", "CPU per window (us)"), components)
    print()
    print_table(("epoch on the CPU, 0 loader workers", "seconds", "waiting for batches (s)", "CPU cutting them (s)", "windows/s"),
                epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
