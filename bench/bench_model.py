"""Speed of the full-size SE-ResNet on this machine: FLOPs, training, ensemble inference, driver memory.

    .venv/bin/python bench/bench_model.py [--threads 2] [--records 40] [--driver-records 1000] [--model-dir DIR] [--flops-only] [--smoke]

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
``--smoke``: the ``smoke`` preset's network, 256^3 products, 2 records, no driver run (the
suite's check).
The helpers other benches share (random model directories, the matmul peak, the training
rate, the driver's peak memory) live in ``bench/common.py``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import add_smoke, driver_peak_rss, machine, matmul_peak, print_table, random_model_dir, replicate, training_rate  # noqa: E402
from ecgnet.config import PRESETS, Config  # noqa: E402
from ecgnet.network.model import forward_flops  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402


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


def main() -> int:
    """Measure and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--records", type=int, default=40, help="records timed for inference")
    parser.add_argument("--driver-records", type=int, default=1000, help="records for the driver memory run (0 = skip)")
    parser.add_argument("--model-dir", type=Path, help="a trained full-size model directory (default: random weights)")
    parser.add_argument("--flops-only", action="store_true", help="print the FLOP count alone (no timing)")
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:  # the smoke preset's network, 256^3 products, 2 records, no driver (bench_driver_memory.py runs it)
        args.records, args.driver_records = 2, 0
    os.environ["ECGNET_QUIET"] = "1"
    torch.set_num_threads(args.threads)
    config = (PRESETS["smoke"] if args.smoke else Config()).replace(threads=args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    flops = forward_flops(config.network, config.window)
    rows = [(f"forward GFLOP per 12x{config.window} window (torch FlopCounterMode)", f"{flops / 1e9:.3f}")]
    if not args.flops_only:
        rows += measured_rows(args, config, device, flops)
    print(f"\n{machine(args.threads)}\n")
    print_table(("measure", "value"), rows, align="ll")
    return 0


def measured_rows(args: argparse.Namespace, config: Config, device: torch.device, flops: float) -> list[tuple[str, str]]:
    """The table's timed rows: matmul peak, training rate, inference in fp32 and bf16, the driver's memory."""
    peak = matmul_peak(256 if args.smoke else 2048)
    record_flops = 5 * flops  # a 10-s record is one window at 257 Hz
    rows = [(f"fp32 matmul peak, {args.threads} threads (GFLOP/s)", f"{peak:.0f}"),
            ("peak-bound 5-model fp32 inference (records/s)", f"{peak * 1e9 / record_flops:.1f}")]
    rate = training_rate(config, device, steps=1 if args.smoke else 4)
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
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
