"""The GPU check: every CUDA path of ecgnet end to end, in one command and one table, in under 10 minutes.

    python bench/gpu_check.py                           # on a GPU machine: every visible GPU
    python bench/gpu_check.py --device cpu --records 40 --epochs 1   # its CPU mode (the suite runs this)

On a small synthetic release (``--records`` training records of the generator's real-source
mix of sampling rates, durations and gains, one sub-folder per source profile as the
challenge's data came, plus ``--test`` held-out records), it runs the programs a user runs:

1. ``train_model.py`` in one process: CUDA, the mixed precision the GPU supports (bf16, else
   fp16 with a gradient scaler), the loader's worker processes (``loader_workers`` -1: the
   process's share of the cores less one);
2. the same under ``torchrun --standalone --nproc_per_node=G`` (DDP over the G visible GPUs,
   backend nccl; in CPU mode 2 gloo processes);
3. ``driver.py`` with each model directory on the test folder, and the scorer on its outputs.

Each row gives the wall time, the GPUs' peak memory in use (``nvidia-smi``, sampled; "-" without
it) and what the run's own files say it did (device, precision, loader workers, folds), so that
a row that fell back to the CPU, or to fp32, shows. It exits 1 if any stage failed; the table
is printed either way. The smoke network (width 8, 1,024-sample windows) keeps it short: it
checks that the paths run, not how fast (``bench/bench_train_gpu.py`` times them).
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

from bench.common import machine, print_table  # noqa: E402
from ecgnet.fileio import MANIFEST  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402

PROFILES = ("cpsc", "georgia", "us400", "ptbxl-dev")


class GpuMemory:
    """Peak memory in use over all GPUs (MiB), sampled with ``nvidia-smi`` in a thread; ``None`` without it."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak = interval, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _used(self) -> int | None:
        try:
            done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return sum(int(v) for v in done.stdout.split()) if done.returncode == 0 else None

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self._used()
            if used is not None:
                self.peak = max(self.peak or 0, used)
            self._stop.wait(self.interval)

    def __enter__(self) -> GpuMemory:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def make_release(root: Path, records: int, test: int) -> tuple[Path, Path]:
    """A training folder with one sub-folder per source profile, and a flat test folder (later record numbers)."""
    per_profile = -(-records // len(PROFILES))
    for k, profile in enumerate(PROFILES):
        generate_dataset(root / "training" / profile, per_profile, seed=7, first=k * per_profile, profiles=(profile,))
    generate_dataset(root / "test", test, seed=7, first=len(PROFILES) * per_profile)
    return root / "training", root / "test"


def run_stage(name: str, command: list[str], env: dict, log: Path) -> dict:
    """One program run, timed and its GPU memory sampled; its output kept in ``log``."""
    started = time.perf_counter()
    with GpuMemory() as gpu, open(log, "w") as handle:
        done = subprocess.run(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return {"stage": name, "seconds": time.perf_counter() - started, "gpu_mib": gpu.peak, "ok": done.returncode == 0,
            "log": log}


def what_training_did(model_dir: Path, processes: int) -> str:
    """The device and folds the model directory records, with the precision and loader workers that training
    resolves for that device (``device.training_dtype``, ``loader.choose_workers``: the functions it calls)."""
    import torch

    from ecgnet.config import load_config
    from ecgnet.data.loader import choose_workers
    from ecgnet.device import training_dtype

    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        return "no manifest.json"
    manifest = json.loads(manifest_path.read_text())
    recorded = manifest.get("data", {}).get("device", "?")
    device = torch.device(recorded.split(",")[0]) if recorded != "?" else torch.device("cpu")
    config = load_config(os.environ["ECGNET_CONFIG"])
    dtype = training_dtype(device, config.train_precision)
    workers = choose_workers(config.loader_workers, device, processes)
    precision = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    return f"device {recorded}, {precision}, {workers} loader workers, {len(manifest.get('folds', []))} folds"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--records", type=int, default=400, help="training records (default 400)")
    parser.add_argument("--test", type=int, default=100, help="held-out records (default 100)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5, help="ensemble folds (default 5, the contract's; at least 2)")
    parser.add_argument("--processes", type=int, default=0, help="DDP processes (default: every visible GPU; 2 on the CPU)")
    parser.add_argument("--keep", type=Path, help="keep the release, models and logs here (default: a temporary folder)")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); --device cpu runs the CPU mode")
        return 1
    processes = args.processes or (torch.cuda.device_count() if args.device == "cuda" else 2)
    work = args.keep or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    training, test = make_release(work / "release", args.records, args.test)

    config = work / "config.json"
    settings = {"preset": "smoke", "epochs": args.epochs, "lr_milestones": [], "n_folds": args.folds,
                **({"threads": 1, "inner_folds": 2} if args.device == "cpu" else {})}
    config.write_text(json.dumps(settings))
    env = {**os.environ, "ECGNET_CONFIG": str(config), "ECGNET_QUIET": "1"}
    os.environ["ECGNET_CONFIG"] = str(config)  # what_training_did reads the same configuration
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    rows = []
    for label, launcher, model, per_node in (("train, 1 process", [sys.executable], "model_1", 1),
                                             (f"train, DDP x {processes}", torchrun, "model_ddp", processes)):
        stage = run_stage(label, [*launcher, "train_model.py", str(training), str(work / model)], env, work / f"{model}.log")
        rows.append({**stage, "did": what_training_did(work / model, per_node)})
        outputs = work / f"outputs_{model}"
        stage = run_stage(f"driver.py ({model})", [sys.executable, "driver.py", str(work / model), str(test), str(outputs)],
                          env, work / f"driver_{model}.log")
        count = len(list(outputs.glob("*.csv"))) if outputs.is_dir() else 0
        rows.append({**stage, "did": f"{count} of {args.test} output files, {args.test / stage['seconds']:.1f} records/s"})
        stage = run_stage(f"scorer ({model})", [sys.executable, "evaluate_12ECG_score.py", str(test), str(outputs),
                                                str(work / f"scores_{model}.csv")], env, work / f"scores_{model}.log")
        scores = work / f"scores_{model}.csv"
        did = dict(zip(*[line.split(",") for line in scores.read_text().splitlines()])) if scores.is_file() else {}
        rows.append({**stage, "did": f"challenge metric {did.get('Challenge metric', '?')}"})

    print(f"\n{machine()}; {args.device}, {processes} DDP processes; {args.records} training and {args.test} test "
          f"records; smoke network, {args.epochs} epochs; work folder {work}\n")
    print_table(["stage", "s", "GPU peak MiB", "ok", "what it did"],
                [[r["stage"], f"{r['seconds']:.1f}", "-" if r["gpu_mib"] is None else r["gpu_mib"], "yes" if r["ok"] else "NO",
                  r["did"]] for r in rows])
    failed = [r for r in rows if not r["ok"]]
    for row in failed:
        print(f"\n{row['stage']} failed; the end of {row['log']}:\n{row['log'].read_text()[-3000:]}")
    if not args.keep and not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
