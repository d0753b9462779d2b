"""The demo's training epoch alone and beside one busy process, under torch/OpenMP thread settings.

    .venv/bin/python bench/bench_threads.py [--records 600] [--epochs 2] [--busy 1] [--repeats 1] [--smoke]

Trains one fold of the ``demo`` preset for ``--epochs`` epochs (inner validation
included, as the demo runs them) on synthetic 10-s 500 Hz records, each setting in a
fresh process (OpenMP reads its environment when torch is loaded), alone and beside
``--busy`` processes running ``while True: pass``. Prints a Markdown table: wall seconds
and CPU seconds (user + sys) per epoch and the load average before each run; with
``--repeats`` > 1, the median and the range of the runs, which go through the settings
in turn, forwards then backwards, so a load that drifts meets every setting alike.

Settings: libgomp's own default (``GOMP_SPINCOUNT=300000``: an idle thread spins that
long before sleeping; set explicitly so that ecgnet's default does not apply),
``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once: ecgnet's default), and one thread.
``--smoke`` (the suite's check): the passive setting alone, 24 records, 1 epoch of the
``smoke`` preset, no busy process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import add_smoke, machine, print_table  # noqa: E402

SETTINGS = (  # (label, environment, threads)
    ("libgomp default: spin, then sleep (GOMP_SPINCOUNT=300000), 2 threads", {"GOMP_SPINCOUNT": "300000"}, 0),
    ("OMP_WAIT_POLICY=PASSIVE (ecgnet's default), 2 threads", {"OMP_WAIT_POLICY": "PASSIVE"}, 0),
    ("libgomp default, 1 thread", {"GOMP_SPINCOUNT": "300000"}, 1),
)


def child(data_dir: Path, cache_root: Path, threads: int, epochs: int, preset: str = "demo") -> None:
    """One measurement in this process: print {"wall": s, "cpu": s} for the training alone."""
    import numpy as np

    from ecgnet.config import PRESETS
    from ecgnet.console import set_quiet
    from ecgnet.data.cache import build_cache
    from ecgnet.training.train import inner_split, labelled_records, train_fold

    set_quiet(True)
    config = PRESETS[preset].replace(epochs=epochs, threads=threads, workers=1)
    cache = build_cache(data_dir, cache_root, gain_policy=config.gain_policy, workers=1)
    fit_idx, val_idx = inner_split(cache, labelled_records(cache), config, config.seed, 0)
    with tempfile.TemporaryDirectory() as fold_dir:
        before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        train_fold(cache, np.asarray(fit_idx), np.asarray(val_idx), config, fold_dir, config.seed, 0)
        wall, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"wall": wall / epochs, "cpu": cpu / epochs}))


def measure(data_dir: Path, cache_root: Path, environment: dict, threads: int, epochs: int, preset: str = "demo") -> dict:
    """One setting in a fresh process (OpenMP reads its environment when torch loads): its {"wall", "cpu"} per epoch."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(environment)
    command = [sys.executable, __file__, "--child", "--data", str(data_dir), "--cache", str(cache_root),
               "--threads", str(threads), "--epochs", str(epochs), "--preset", preset]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure every setting alone and beside the busy processes; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600, help="synthetic training records (default 600)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement (default 2)")
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the training (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting (default 1)")
    add_smoke(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="demo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.data, args.cache, args.threads, args.epochs, args.preset)
    settings = SETTINGS[1:2] if args.smoke else SETTINGS
    if args.smoke:
        args.records, args.epochs, args.busy, args.repeats, args.preset = 24, 1, 0, 1, "smoke"
    runs = measure_all(args, settings)
    print(f"\n{args.records} records, {args.preset} preset, {args.epochs} epochs per run, {args.repeats} run(s) per row; "
          f"{machine()}\n")
    print_table(("setting", "busy processes", "load average before", "wall s/epoch", "CPU s/epoch"),
                [(settings[i][0], busy, *(_spread([m[k] for m in measured]) for k in range(3)))
                 for (i, busy), measured in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0]))])


def measure_all(args: argparse.Namespace, settings) -> dict[tuple[int, int], list[tuple[float, float, float]]]:
    """(setting index, busy processes) -> (load before, wall s/epoch, CPU s/epoch) of each run, on one shared cache."""
    from ecgnet.data.cache import build_cache
    from ecgnet.synth import generate_dataset

    runs: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, cache_root = Path(tmp) / "data", Path(tmp) / "cache"
        generate_dataset(data_dir, args.records, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
        build_cache(data_dir, cache_root, workers=1)
        for repeat in range(args.repeats):
            for busy in sorted({0, args.busy}):
                order = list(range(len(settings)))[::-1 if repeat % 2 else 1]
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
                try:
                    for i in order:
                        label, environment, threads = settings[i]
                        load = os.getloadavg()[0]
                        result = measure(data_dir, cache_root, environment, threads, args.epochs, args.preset)
                        runs.setdefault((i, busy), []).append((load, result["wall"], result["cpu"]))
                        print(f"{label}, {busy} busy: {result['wall']:.1f} s/epoch", file=sys.stderr)
                finally:
                    for hog in hogs:
                        hog.kill()
                        hog.wait()
    return runs


def _spread(values: list[float]) -> str:
    """The median, and the range when there are several values."""
    text = f"{statistics.median(values):.1f}"
    return text if len(values) == 1 else f"{text} ({min(values):.1f}-{max(values):.1f})"


if __name__ == "__main__":
    main()
