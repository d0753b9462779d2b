"""The driver over an archive: records/s with 1 process and with N torchrun processes, and a resumed run.

    .venv/bin/python bench/bench_archive.py [--records 200] [--processes 2] [--config default]
    .venv/bin/python bench/bench_archive.py --smoke        # the suite's run: 4 records, smoke network, no resumed row

Each row is one fresh ``driver.py`` run over the same ``--records`` synthetic 10-s records
(500 Hz) with a random ``--config`` model directory of 5 folds (speed does not depend on the
weights): one process with every core, then ``torchrun --nproc_per_node=N`` (each process
classifies every N-th record with its share of the cores), then the N-process run again
with ``--skip-existing`` over its own finished outputs (what a resumed run pays to find
that nothing is left). Times include each run's start-up (importing torch, loading the
models), as a user's run does. The last column checks that the N-process outputs equal the
one-process outputs: same labels, scores within 1e-6.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import add_smoke, machine, print_table, random_model_dir  # noqa: E402
from ecgnet.config import load_config  # noqa: E402
from ecgnet.device import available_cores  # noqa: E402
from ecgnet.inference.outputs import read_output  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402


def run_driver(model: Path, data: Path, out: Path, processes: int, threads: int, *extra: str) -> float:
    """Seconds of one ``driver.py`` run (under torchrun when ``processes`` > 1); raises when it fails."""
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    env = {**os.environ, "ECGNET_QUIET": "1", "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run([*launcher, "driver.py", str(model), str(data), str(out), *extra], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"driver.py ({processes} process(es)) failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def same_outputs(first: Path, second: Path) -> bool:
    """Same files, same labels, scores within 1e-6."""
    names = sorted(p.name for p in first.glob("*.csv"))
    if names != sorted(p.name for p in second.glob("*.csv")):
        return False
    for name in names:
        (labels_a, scores_a), (labels_b, scores_b) = read_output(first / name), read_output(second / name)
        if not (np.array_equal(labels_a, labels_b) and np.allclose(scores_a, scores_b, atol=1e-6)):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--config", default="default", help="the model directory's configuration (default: default)")
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.records, args.config = 4, "smoke"
    cores = available_cores()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data = work / "data"
        generate_dataset(data, args.records, seed=5, workers=1, fs_choices=[500], duration_range=(10, 10))
        (work / "model").mkdir()
        model = random_model_dir(work / "model", load_config(args.config))
        per_process = max(1, cores // args.processes)
        rows = []
        one = run_driver(model, data, work / "one", 1, cores)
        rows.append(["1 process", 1, cores, f"{one:.1f}", f"{args.records / one:.2f}", "1.00", ""])
        many = run_driver(model, data, work / "many", args.processes, per_process)
        equal = "yes" if same_outputs(work / "one", work / "many") else "NO"
        rows.append([f"torchrun x {args.processes}", args.processes, per_process, f"{many:.1f}", f"{args.records / many:.2f}",
                     f"{one / many:.2f}", equal])
        if not args.smoke:  # the suite checks --skip-existing in-process, in its archive-inference tests
            resumed = run_driver(model, data, work / "many", args.processes, per_process, "--skip-existing")
            rows.append([f"torchrun x {args.processes}, --skip-existing, all done", args.processes, per_process,
                         f"{resumed:.1f}", "", "", ""])
    print(f"\n{machine()}; {args.records} records of 10 s at 500 Hz; a random {args.config} model directory, 5 folds\n")
    print_table(["run", "processes", "threads each", "s", "records/s", "x 1 process", "outputs equal 1 process"], rows)


if __name__ == "__main__":
    main()
