"""Speed of the full-size SE-ResNet on this machine: FLOPs, training, ensemble inference, driver memory.

    .venv/bin/python bench/bench_model.py [--threads 2] [--records 40] [--driver-records 1000] [--model-dir DIR] [--flops-only]

Prints one Markdown table:

- forward FLOPs per 12 x 4096 window (``model.forward_flops``: ``torch.utils.flop_counter``
  on the meta device; ``--flops-only`` prints this row alone, in seconds);
- the measured fp32 matrix-multiply peak (2048^3 products) and, from it, the bound on
  5-model inference records/s;
- training samples/s (batch 32, fp32; CUDA with fp16 autocast when a GPU is present);
- 5-model ensemble inference records/s on 10-s 500 Hz records, file reading included
  (``loadmat`` + ``run_12ECG_classifier``, as the official driver), in fp32 and bf16
  autocast, with the share of the fp32 peak reached and the bf16-vs-fp32 agreement
  (records whose labels differ, largest probability difference);
- peak RSS of ``driver.py`` over 100 and over ``--driver-records`` records (flat memory
  means the two agree).

Without ``--model-dir`` the ensemble has random weights (the speed is the same; the
agreement figures are then on untrained outputs, near 0.5, the hardest case for labels).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecgnet.config import Config  # noqa: E402
from ecgnet.modeldir import build_manifest, save_weights, weights_name, write_manifest  # noqa: E402
from ecgnet.network.model import SEResNet, forward_flops  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the fastest of ``repeats`` fp32 ``size`` x ``size`` matrix products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def training_rate(config: Config, device: torch.device, batch: int = 32, steps: int = 4) -> float:
    """Training samples/s of ``steps`` optimiser steps on random (batch, 12, window) inputs, after one warm-up step."""
    model = SEResNet(config.network).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x = torch.randn(batch, 12, config.window, device=device)
    demographics = torch.zeros(batch, 5, device=device)
    y = (torch.rand(batch, 24, device=device) < 0.1).float()
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(model(x, demographics).float(), y)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def random_model_dir(path: Path, config: Config, folds: int = 5) -> Path:
    """A valid model directory of ``folds`` randomly initialised networks (thresholds 0.5)."""
    path.mkdir(parents=True, exist_ok=True)
    entries = []
    for k in range(folds):
        torch.manual_seed(k)
        digest = save_weights(path / weights_name(k), SEResNet(config.network).state_dict())
        entries.append({"fold": k, "weights": weights_name(k), "sha256": digest, "thresholds": [0.5] * 24})
    write_manifest(path, build_manifest(config, entries, {"fingerprint": "random weights"}, seed=0))
    return path


def replicate(source: Path, target: Path, count: int) -> Path:
    """``count`` records named R00001... cycling through the records in ``source``."""
    target.mkdir(parents=True, exist_ok=True)
    headers = sorted(source.glob("*.hea"))
    for i in range(count):
        header = headers[i % len(headers)]
        name = f"R{i + 1:05d}"
        lines = header.read_text().splitlines()
        old = lines[0].split()[0].removesuffix(".mat")
        text = "\n".join(line.replace(f"{old}.mat", f"{name}.mat") for line in [lines[0].replace(old, name, 1), *lines[1:]])
        (target / f"{name}.hea").write_text(text + "\n")
        shutil.copyfile(header.with_suffix(".mat"), target / f"{name}.mat")
    return target


def inference(model_dir: Path, data: Path, precision: str) -> tuple[float, np.ndarray, np.ndarray]:
    """(records/s including file reading, labels (N, 24), scores (N, 24)) through the official interface."""
    from team_code import load_12ECG_model, run_12ECG_classifier

    os.environ["ECGNET_PRECISION"] = precision
    model = load_12ECG_model(str(model_dir))
    files = sorted(data.glob("*.mat"))
    labels, scores = [], []
    first = np.asarray(loadmat(files[0])["val"], dtype=np.float64)
    run_12ECG_classifier(first, files[0].with_suffix(".hea").read_text().splitlines(True), model)  # warm-up
    start = time.perf_counter()
    for mat in files:
        values = np.asarray(loadmat(mat)["val"], dtype=np.float64)
        header = mat.with_suffix(".hea").read_text().splitlines(True)
        l, s, _ = run_12ECG_classifier(values, header, model)
        labels.append(l)
        scores.append(s)
    return len(files) / (time.perf_counter() - start), np.array(labels, bool), np.array(scores)


def driver_peak_rss(model_dir: Path, data: Path, out: Path, threads: int, precision: str = "bf16") -> tuple[float, float]:
    """(peak RSS MiB, seconds) of one fresh ``driver.py`` process."""
    env = {**os.environ, "ECGNET_QUIET": "1", "ECGNET_PRECISION": precision, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    # /usr/bin/time measures its own small child: a forked copy of this (large) process would
    # carry this process's high-water mark into the child's ru_maxrss.
    done = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KIB %M", sys.executable, "driver.py", str(model_dir), str(data), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")]
    if done.returncode != 0 or not peak:
        raise RuntimeError(f"driver.py failed on {data}:\n{done.stderr[-2000:]}")
    return int(peak[0].split()[1]) / 1024, seconds


def main() -> int:
    """Measure and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--records", type=int, default=40, help="records timed for inference")
    parser.add_argument("--driver-records", type=int, default=1000, help="records for the driver memory run (0 = skip)")
    parser.add_argument("--model-dir", type=Path, help="a trained full-size model directory (default: random weights)")
    parser.add_argument("--flops-only", action="store_true", help="print the FLOP count alone (no timing)")
    args = parser.parse_args()
    os.environ["ECGNET_QUIET"] = "1"
    torch.set_num_threads(args.threads)
    config = Config(threads=args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows: list[tuple[str, str]] = []

    flops = forward_flops(config.network, config.window)
    rows.append(("forward GFLOP per 12x4096 window (torch FlopCounterMode)", f"{flops / 1e9:.3f}"))
    if args.flops_only:
        return _print_table(rows)
    peak = matmul_peak()
    record_flops = 5 * flops  # a 10-s record is one window at 257 Hz
    rows.append((f"fp32 matmul peak, {args.threads} threads (GFLOP/s)", f"{peak:.0f}"))
    rows.append(("peak-bound 5-model fp32 inference (records/s)", f"{peak * 1e9 / record_flops:.1f}"))
    rate = training_rate(config, device)
    rows.append((f"training samples/s ({device.type}, batch 32{', fp16 autocast' if device.type == 'cuda' else ', fp32'})", f"{rate:.1f}"))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model_dir or random_model_dir(tmp / "model", config)
        generate_dataset(tmp / "synth", min(args.records, 50), seed=0, fs_choices=[500], duration_range=(10, 10))
        data = replicate(tmp / "synth", tmp / "data", args.records)
        results = {}
        for precision in ("fp32", "bf16"):
            results[precision] = inference(model_dir, data, precision)
            speed = results[precision][0]
            rows.append((f"5-model inference, {precision}, incl. file reading (records/s)",
                         f"{speed:.2f} ({speed * record_flops / 1e9 / peak:.0%} of fp32 peak)"))
        (_, l32, s32), (_, l16, s16) = results["fp32"], results["bf16"]
        rows.append(("bf16 vs fp32: records with different labels / max |prob diff|",
                     f"{int((l32 != l16).any(axis=1).sum())} of {len(l32)} / {np.abs(s32 - s16).max():.4f}"))
        if args.driver_records:
            for count in sorted({min(100, args.driver_records), args.driver_records}):
                many = replicate(tmp / "synth", tmp / f"many{count}", count)
                rss, seconds = driver_peak_rss(model_dir, many, tmp / f"out{count}", args.threads)
                rows.append((f"driver.py (bf16) over {count} records: peak RSS (MiB) / wall s", f"{rss:.0f} / {seconds:.0f}"))
                shutil.rmtree(many)

    return _print_table(rows)


def _print_table(rows: list[tuple[str, str]]) -> int:
    print(f"\n| measure ({os.cpu_count()} CPUs visible, torch {torch.__version__}) | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
