"""Ensemble inference side by side in one run: the seed's loop, ecgnet before and after batching across records, fp32 and bf16.

    .venv/bin/python bench/bench_inference.py [--records 200] [--threads 2] [--chunk 25]
        [--trained MODEL_DIR] [--real ../shared/data/ptbxl-dev] [--synthetic 200] [--variants] [--smoke]

Prints one Markdown table. On ``--records`` synthetic 10-s 500 Hz records (file reading
and, for ecgnet, writing the output files included) with a full-size 5-fold ensemble
(the default network, random weights: the speed does not depend on them), it times, in
interleaved chunks of ``--chunk`` records so that the machine's load falls on every path
alike:

- the seed's loop, written here from its description (METHOD.md): raw counts, linear
  interpolation to 257 Hz, right zero-padding to 4096, one window per record, the five
  models one after another at batch 1 with autograd on;
- ecgnet before: one record at a time through ``predict.classify`` (the contract's
  ``run_12ECG_classifier``) with the eager models, as ``driver.py`` did;
- ecgnet after: ``predict.predict_directory`` (``driver.py``), several records per forward
  pass, through the models' ``InferenceSEResNet`` forms (``ensemble.inference_forms``);

each in fp32 and bf16 autocast (the seed in fp32 only), and ecgnet after in fp32 with
``pad_to = "stride"`` (short records padded to the network's stride, not to 4,096
samples: other outputs by design, so its agreement column measures that change on random
weights, not a tolerance) and the same with the eager networks (the inference form's
share), with records/s, the ratios, the
share of the machine's fp32 matrix-product peak (measured here) reached, the load
average, and the label/probability agreement with ecgnet's fp32 reference.

``--trained``: bf16 vs fp32 labels of a trained ensemble on the ``--real`` records plus
``--synthetic`` generated ones (the evidence for the precision default).
``--variants``: forward-only times of one full-size model on the driver's batch of 64
stride-padded windows: eager vs folded batch norm vs ecgnet's ``InferenceSEResNet`` vs that
form frozen (TorchScript) or compiled (``torch.compile``, its compile time in a row).
``--smoke`` (the suite's check): the ``smoke`` preset's network, 256^3 products, 4 records
in chunks of 2, and the variants without ``torch.compile`` (its compile takes minutes).
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat
from torch.nn.utils.fusion import fuse_conv_bn_eval

os.environ["ECGNET_QUIET"] = "1"  # no progress bars inside the timed loops (read when ecgnet is imported)
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA, add_smoke, best_time, machine, matmul_peak, print_table, random_model_dir  # noqa: E402
from ecgnet.config import PRESETS, Config  # noqa: E402
from ecgnet.inference.ensemble import Ensemble  # noqa: E402
from ecgnet.inference.outputs import read_output, write_output  # noqa: E402
from ecgnet.inference.predict import classify, load_challenge_data, predict_directory  # noqa: E402
from ecgnet.network.model import InferenceSEResNet, SEResNet, forward_flops  # noqa: E402
from ecgnet.records.reader import read_record  # noqa: E402
from ecgnet.signal import (  # noqa: E402
    encode_demographics,  # noqa: E402
    padded_length,
    resampled_length,
)
from ecgnet.synth import generate_dataset  # noqa: E402

SEED_FS, SEED_WINDOW = 257, 4096

Rows = list[tuple[str, ...]]  # measure, value, then the speed rows' ratio, share and agreement columns
COLUMNS = ("measure", "value", "x seed", "x ecgnet before fp32", "share of fp32 peak",
           "vs ecgnet before fp32: records with other labels / max abs prob diff")


def seed_loop(models: list[SEResNet], files: list[Path]) -> None:
    """The seed's inference, per record: read, resample linearly, pad, five models at batch 1, autograd on."""
    for mat in files:
        val = np.asarray(loadmat(mat)["val"], dtype=np.float64)  # raw counts: the seed does not scale by the gains
        lines = mat.with_suffix(".hea").read_text().splitlines()
        fs = float(lines[0].split()[2])
        fields = dict(line[1:].split(":", 1) for line in lines if line.startswith("#") and ":" in line)
        age = float(fields.get("Age", "nan").strip() or "nan")
        sex = fields.get("Sex", "").strip()
        length = int(val.shape[1] / fs * SEED_FS)
        old, new = np.arange(val.shape[1]) / fs, np.arange(length) / SEED_FS
        window = np.zeros((1, 12, SEED_WINDOW), np.float32)
        window[0, :, :min(length, SEED_WINDOW)] = np.stack([np.interp(new, old, lead) for lead in val])[:, :SEED_WINDOW]
        x = torch.from_numpy(window)
        d = torch.from_numpy(encode_demographics(age, sex if sex in ("Male", "Female") else None)[None])
        np.mean([torch.sigmoid(model(x, d)).detach().numpy() for model in models], axis=0)


def before_loop(ensemble: Ensemble, files: list[Path], out: Path) -> None:
    """ecgnet before batching across records: ``driver.py``'s old loop, one record per call, eager models."""
    out.mkdir(parents=True, exist_ok=True)
    for mat in files:
        labels, scores, classes = classify(ensemble, *load_challenge_data(mat), where=mat)
        write_output(out / f"{mat.stem}.csv", mat.stem, classes, labels, scores)


def read_outputs(out: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N, 24) bool, scores (N, 24)) of the output files ``out/NAME.csv``."""
    read = [read_output(out / f"{name}.csv") for name in names]
    return np.array([labels for labels, _ in read]), np.array([scores for _, scores in read])


def agreement(reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> str:
    """'k of N records with other labels / max |probability difference|'."""
    differ = int((reference[0] != other[0]).any(axis=1).sum())
    return f"{differ} of {len(reference[0])} / {np.abs(reference[1] - other[1]).max():.1e}"


def timed_paths(model_dir: Path, chunks: list[Path], out: Path) -> tuple[dict[str, float], dict[str, Path], dict[str, str]]:
    """Seconds per path over all chunks, the paths interleaved chunk by chunk; each path's output folder and padding."""
    after = Ensemble.load(model_dir, device="cpu")
    before = copy.copy(after)  # the same weights, run eager as before batching across records; the loop differs too
    before.networks = after.models
    paths = {}  # name: (run(files, output folder), the padding of its windows)
    for precision in ("fp32", "bf16"):
        low_before, low_after = copy.copy(before), copy.copy(after)
        low_before.precision = low_after.precision = precision
        paths[f"ecgnet before, {precision}"] = (lambda files, o, e=low_before: before_loop(e, files, o), before.config.pad_to)
        paths[f"ecgnet after, {precision}"] = (lambda files, o, e=low_after: predict_directory(None, files[0].parent, o, model=e),
                                              after.config.pad_to)
    stride = copy.copy(after)
    stride.config = after.config.replace(pad_to="stride")  # 10-s records: 2,592 samples per window instead of 4,096
    paths["ecgnet after, fp32, pad_to=stride"] = (lambda files, o: predict_directory(None, files[0].parent, o, model=stride),
                                                  stride.config.pad_to)
    stride_eager = copy.copy(stride)
    stride_eager.networks = after.models  # isolates the inference form's share
    paths["ecgnet after, fp32, pad_to=stride, eager networks"] = (
        lambda files, o: predict_directory(None, files[0].parent, o, model=stride_eager), stride.config.pad_to)
    paths = {"seed's loop, fp32": (lambda files, o: seed_loop(after.models, files), "window"), **paths}  # pads to 4,096
    seconds = dict.fromkeys(paths, 0.0)
    folders = {name: out / f"path{i}" for i, name in enumerate(paths)}
    warm = out / "warm-up"
    warm.mkdir()
    for path in sorted(chunks[0].iterdir())[:4]:  # two records (.hea and .mat)
        shutil.copyfile(path, warm / path.name)
    for run, _ in paths.values():  # warm-up: first-call allocations and kernel choices
        run(sorted(warm.glob("*.mat")), out / "warm-up-out")
    for chunk in chunks:
        files = sorted(chunk.glob("*.mat"))
        for name, (run, _) in paths.items():
            start = time.perf_counter()
            run(files, folders[name])
            seconds[name] += time.perf_counter() - start
    return seconds, folders, {name: padding for name, (_, padding) in paths.items()}


def speed_rows(model_dir: Path, data: Path, chunk: int, peak: float, record_gflop: dict[str, float]) -> Rows:
    """The timed paths' rows: records/s, ratios to the seed and to ecgnet before (fp32), share of peak, agreement.

    ``record_gflop``: the 5-model forward work of one 10-s record, by ``pad_to`` ("window", "stride").
    """
    chunks = split(data, chunk)
    names = sorted(p.stem for c in chunks for p in c.glob("*.mat"))
    with tempfile.TemporaryDirectory() as tmp:
        seconds, folders, paddings = timed_paths(model_dir, chunks, Path(tmp))
        outputs = {name: read_outputs(folder, names) for name, folder in folders.items() if not name.startswith("seed")}
    n = len(names)
    rates = {name: n / s for name, s in seconds.items()}
    seed, reference = rates["seed's loop, fp32"], rates["ecgnet before, fp32"]
    rows = []
    for name, rate in rates.items():
        agree = agreement(outputs["ecgnet before, fp32"], outputs[name]) if name in outputs else "(not compared)"
        rows.append((f"{name} (records/s)", f"{rate:.2f}", f"{rate / seed:.2f}", f"{rate / reference:.2f}",
                     f"{rate * record_gflop[paddings[name]] / peak:.0%}", agree))
    return rows


def split(data: Path, chunk: int) -> list[Path]:
    """Move the records of ``data`` into sub-folders of ``chunk`` records each; returns the folders."""
    headers = sorted(data.glob("*.hea"))
    folders = []
    for i in range(0, len(headers), chunk):
        folder = data / f"chunk{i // chunk:03d}"
        folder.mkdir()
        for header in headers[i:i + chunk]:
            for path in (header, header.with_suffix(".mat")):
                shutil.move(path, folder / path.name)
        folders.append(folder)
    return folders


def trained_agreement(model_dir: Path, real: Path, synthetic: int, scratch: Path) -> Rows:
    """bf16 vs fp32 labels of the trained ensemble in ``model_dir`` on the real records plus ``synthetic`` generated ones."""
    headers = sorted(real.glob("*.hea")) + generate_dataset(scratch / "agreement", synthetic, seed=1)
    records, unreadable = [], 0
    for header in headers:
        try:
            records.append(read_record(header))
        except Exception:  # noqa: BLE001 - an unreadable record is counted, not compared
            unreadable += 1
    ensemble = Ensemble.load(model_dir, device="cpu")
    results = {}
    for precision in ("fp32", "bf16"):
        ensemble.precision = precision
        parts = [ensemble.predict_records(records[i:i + 64]) for i in range(0, len(records), 64)]
        results[precision] = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    network = ensemble.config.network
    what = f"trained ensemble {model_dir.name} (width {network.width}, blocks {list(network.blocks)}, window {ensemble.config.window})"
    differ = int((results["fp32"][0] != results["bf16"][0]).any(axis=1).sum())
    return [(f"bf16 vs fp32, {what}: {len(records) - synthetic} of {real.name} + {synthetic} synthetic "
             f"({unreadable} unreadable): records with other labels / max dp",
             f"{differ} of {len(records)} ({differ / len(records):.2%}) / {np.abs(results['fp32'][1] - results['bf16'][1]).max():.1e}")]


def fold_batch_norm(model: SEResNet) -> SEResNet:
    """An eval copy of ``model`` with each conv -> batch norm pair folded into one convolution (a measured variant)."""
    folded = copy.deepcopy(model).eval()
    for sequence in [m for m in folded.modules() if isinstance(m, torch.nn.Sequential)]:
        layers = list(sequence)
        for i, (conv, norm) in enumerate(zip(layers, layers[1:])):
            if isinstance(conv, torch.nn.Conv1d) and isinstance(norm, torch.nn.BatchNorm1d):
                sequence[i], sequence[i + 1] = fuse_conv_bn_eval(conv, norm), torch.nn.Identity()
    return folded


def variant_rows(network, batch: int, length: int, repeats: int = 7, compile_form: bool = True) -> Rows:
    """Forward-only ms per window of one ``network`` model (``batch`` windows of 12 x ``length``: the driver's
    batch of stride-padded 10-s records): eager, 1-D folded BN, ecgnet's inference form, and that form frozen
    (TorchScript) or, with ``compile_form``, compiled (``torch.compile``, its compile time in a row of its own)."""
    torch.manual_seed(0)
    eager = SEResNet(network).eval()
    x, d = torch.randn(batch, 12, length), torch.rand(batch, 5)
    form = InferenceSEResNet(eager)
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(form, (x, d)))
    variants = {"eager (1-D, contiguous)": eager, "batch norm folded, 1-D": fold_batch_norm(eager),
                "InferenceSEResNet (folded, 2-D channels-last; the driver's)": form,
                "InferenceSEResNet + frozen TorchScript": frozen}
    if compile_form:
        compile_seconds, compiled = best_time(compiled_form, form, x, d)
        variants["InferenceSEResNet + torch.compile"] = compiled
    best = dict.fromkeys(variants, float("inf"))
    with torch.inference_mode():
        reference = eager(x, d)
        diffs = {name: float((model(x, d) - reference).abs().max()) for name, model in variants.items()}
        for _ in range(repeats):  # interleaved, best of each
            for name, model in variants.items():
                start = time.perf_counter()
                model(x, d)
                best[name] = min(best[name], time.perf_counter() - start)
    eager_best = best["eager (1-D, contiguous)"]
    rows = [(f"forward only, 1 model, {batch} x 12 x {length}, {name}: ms per window / x eager / max |logit diff|",
             f"{1000 * best[name] / batch:.1f} / {eager_best / best[name]:.2f} / {diffs[name]:.1e}") for name in variants]
    return rows + ([("torch.compile: compile time of one model (s)", f"{compile_seconds:.0f}")] if compile_form else [])


def compiled_form(form: InferenceSEResNet, x: torch.Tensor, d: torch.Tensor):
    """``torch.compile(form)``, compiled by one call on (x, d)."""
    compiled = torch.compile(form)
    with torch.inference_mode():
        compiled(x, d)
    return compiled


def main() -> int:
    """Measure and print the table; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200, help="records timed per path (0 = skip the timed paths)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=25, help="records per interleaved chunk")
    parser.add_argument("--trained", type=Path, help="a trained model directory for the bf16 label agreement")
    parser.add_argument("--real", type=Path, default=SHARED_DATA / "ptbxl-dev")
    parser.add_argument("--synthetic", type=int, default=200, help="synthetic records added to --real for the agreement")
    parser.add_argument("--variants", action="store_true", help="also time eager / folded / TorchScript / torch.compile")
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.records, args.chunk, args.variants = 4, 2, True
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(args.threads)
    config = (PRESETS["smoke"] if args.smoke else Config()).replace(threads=args.threads)
    stride_samples = padded_length(resampled_length(10 * 500, 500), config.window, config.network.stride)
    record_gflop = {"window": 5 * forward_flops(config.network, config.window) / 1e9,
                    "stride": 5 * forward_flops(config.network, stride_samples) / 1e9}
    load_start, peak = os.getloadavg()[0], matmul_peak(256 if args.smoke else 2048)
    rows = [(f"fp32 matmul peak, {256 if args.smoke else 2048}^3, {args.threads} threads (GFLOP/s)", f"{peak:.0f}"),
            (f"5-model forward GFLOP per 10-s record: one 12 x {config.window} window / pad_to=stride, 12 x {stride_samples}",
             f"{record_gflop['window']:.1f} / {record_gflop['stride']:.1f}")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.records:
            model_dir = random_model_dir(tmp / "model", config)
            generate_dataset(tmp / "data", args.records, seed=0, fs_choices=[500], duration_range=(10, 10))
            rows += speed_rows(model_dir, tmp / "data", args.chunk, peak, record_gflop)
        if args.trained:
            rows += trained_agreement(args.trained, args.real, args.synthetic, tmp)
    if args.variants:
        rows += variant_rows(config.network, config.inference_batch, stride_samples, repeats=2 if args.smoke else 7,
                             compile_form=not args.smoke)
    rows.append(("load average (1 min) at start / end", f"{load_start:.1f} / {os.getloadavg()[0]:.1f}"))
    print(f"\n{args.records} records; {machine(args.threads)}\n")
    print_table(COLUMNS, rows, align="l" + "r" * (len(COLUMNS) - 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
