"""Training samples/s of the SE-ResNet on the GPU(s): one process, then DDP on every visible GPU.

    python bench/bench_train_gpu.py                              # on a GPU machine: the whole table
    python bench/bench_train_gpu.py --device cpu --steps 3       # a run on the CPU (1 process)
    python bench/bench_train_gpu.py --device cpu --steps 1 --config smoke   # the suite's check
    python bench/bench_train_gpu.py --device cpu --steps 3 --ddp 2   # ... and 2 gloo processes

Each row times ``--steps`` optimiser steps after a warm-up (``--warmup``, default a fifth
of the steps; it also absorbs ``--compile``'s compile time), with what training uses:
``train.training_model`` (``torch.compile`` with ``--compile``), ``device.training_dtype``
(bf16 autocast where the GPU supports it, fp16 + GradScaler otherwise, fp32 on the CPU;
``--precision fp32`` turns it off), Adam and BCE with logits, no per-step host sync.
Inputs are random tensors already on the device: the data loader is measured on its own
(bench/bench_loader.py). The DDP row is launched with torchrun (``torch.distributed.run
--standalone``): one process per GPU (``--ddp N``, default every visible GPU when there
are at least 2), backend nccl on CUDA and gloo on the CPU; the config's batch is the
global batch, split evenly over the processes (``--batch`` overrides it), and samples/s
is the global batch x steps over the slowest rank's time.

The last column turns samples/s into the training-step time of the seed's recipe: 5 folds
x 50 epochs over each fold's fit split (``--records`` labelled records x 4/5 x 7/8; the
2020 data: 43,101 records), leaving out inner-validation scoring and data loading.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, table_lines, table_row  # noqa: E402
from ecgnet.config import load_config  # noqa: E402
from ecgnet.device import available_cores, training_autocast, training_dtype, uses_grad_scaler  # noqa: E402
from ecgnet.training.train import training_model  # noqa: E402

RESULT_TAG = "BENCH_TRAIN_GPU "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    parser.add_argument("--config", default="default", help="preset or JSON file (default: the full-size network)")
    parser.add_argument("--steps", type=int, default=100, help="timed optimiser steps per row")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default steps // 5, at least 1)")
    parser.add_argument("--batch", type=int, default=None, help="global batch (default: the config's batch_size)")
    parser.add_argument("--precision", choices=("auto", "fp32"), default=None, help="default: the config's train_precision")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (config key compile)")
    parser.add_argument("--ddp", type=int, default=None, help="processes for the DDP row (default: visible GPUs if >= 2, else none)")
    parser.add_argument("--records", type=int, default=43101, help="labelled records for the recipe-time column")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set for the processes torchrun starts
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace):
    config = load_config(args.config)
    config = config.replace(compile=args.compile or config.compile, train_precision=args.precision or config.train_precision)
    return config, args.batch or config.batch_size, args.warmup if args.warmup is not None else max(1, args.steps // 5)


def measure(args: argparse.Namespace, device: torch.device, processes: int = 1) -> float:
    """Seconds of ``args.steps`` timed steps of this process (DDP-wrapped when ``processes`` > 1)."""
    config, batch, warmup = _settings(args)
    local_batch = batch // processes
    torch.manual_seed(0)
    model = training_model(config, device).train()
    stepper = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) if processes > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    dtype = training_dtype(device, config.train_precision)
    scaler = torch.amp.GradScaler(device.type, enabled=uses_grad_scaler(dtype))
    signals = torch.randn(local_batch, 12, config.window, device=device)
    demographics = torch.zeros(local_batch, 5, device=device)
    targets = (torch.rand(local_batch, 24, device=device) < 0.1).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        with training_autocast(device, dtype):
            loss = loss_fn(stepper(signals, demographics).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _synchronize(device)
    return time.perf_counter() - start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """One DDP rank (started by torchrun): time the steps; rank 0 prints the slowest rank's seconds."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = torch.device(args.device, int(os.environ["LOCAL_RANK"])) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, available_cores() // world))
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        seconds = torch.tensor([measure(args, device, world)], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
        if rank == 0:
            print(RESULT_TAG + json.dumps({"seconds": float(seconds.item())}), flush=True)
    finally:
        torch.distributed.destroy_process_group()


def ddp_seconds(args: argparse.Namespace, processes: int, argv: list[str]) -> float:
    """Run the DDP row under torchrun with ``processes`` ranks; the slowest rank's seconds."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(Path(__file__).resolve()), *argv, "--worker"]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if finished.returncode != 0 or not lines:
        raise SystemExit(f"DDP run failed (exit {finished.returncode}):\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_TAG):])["seconds"]


def _row(name: str, args: argparse.Namespace, device: torch.device, processes: int, seconds: float) -> str:
    config, batch, _ = _settings(args)
    rate = batch // processes * processes * args.steps / seconds
    recipe_samples = config.n_folds * config.epochs * args.records * (config.n_folds - 1) / config.n_folds * (config.inner_folds - 1) / config.inner_folds
    dtype = training_dtype(device, config.train_precision)
    precision = "fp32" if dtype is None else str(dtype).removeprefix("torch.") + (" + scaler" if uses_grad_scaler(dtype) else "")
    return table_row((name, processes, precision, "yes" if config.compile else "no", f"{batch // processes} x {processes}", args.steps,
                      f"{seconds:.2f}", f"{rate:,.0f}", f"{rate / processes:,.0f}", f"{recipe_samples / rate / 60:,.1f}"))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    device = torch.device(args.device)
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    processes = args.ddp if args.ddp is not None else (gpus if gpus >= 2 else 0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    config, batch, warmup = _settings(args)
    if not torch.cuda.is_available():
        print(f"no GPU visible: timing the {args.config} network on the CPU instead ({warmup} + {args.steps} steps of batch "
              f"{batch}: minutes on 2 cores at full size; --config smoke --steps 1 for a check in seconds)", file=sys.stderr, flush=True)
    print(f"training samples/s, {args.config} config (width {config.network.width}, blocks {list(config.network.blocks)}, "
          f"window {config.window}); {name}; {warmup} warm-up + {args.steps} timed steps; {machine()}\n")
    print("\n".join(table_lines(("run", "processes", "precision", "compile", "batch", "steps", "seconds", "samples/s", "per process",
                                  "recipe minutes"), [], align="lrlllrrrrr")))
    print(_row("1 process", args, device, 1, measure(args, device)), flush=True)
    if processes >= 2:
        print(_row(f"DDP ({'nccl' if gpus else 'gloo'})", args, device, processes, ddp_seconds(args, processes, argv)))


if __name__ == "__main__":
    main()
