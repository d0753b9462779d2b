"""`python -m ecgnet explain MODEL_DIR RECORD.hea [--class CLASS] [--out PNG]`: where the network looked.

Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017; Captum's implementation):
the attribution of each input sample is its difference from a baseline times the
gradient averaged along the straight path from that baseline. The baseline is the
all-zero record, a flat isoelectric line in every lead, so an attribution says how
much that stretch of signal, against no signal, moved the class's logit. Integrated
Gradients was chosen over Guided Grad-CAM because it needs no hook on a named layer
(the network's internals may change) and its attributions sum to the logit change
(completeness), which makes the averaging over windows and fold models meaningful.

Per record: resampled to 257 Hz and cut into the inference windows (as the ensemble
predicts); every fold model's attribution is computed per window, overlapping
windows are averaged, then the folds are averaged: ``attribute_record`` returns a
(12, T) array at 257 Hz. The plot (``plot.plot_12lead``) shades each lead by the signed
map (red: raises the class's logit, blue: lowers it). Signed, because the absolute map
fails the model-randomisation check (Adebayo et al. 2018) on this network: a
re-initialised one gives a similar |map|, while the signed maps are unrelated
(``experiments/attribution_checks.py``, bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ecgnet.analysis.plot import plot_12lead
from ecgnet.challenge.classes import class_argument, class_in
from ecgnet.console import progress
from ecgnet.inference.ensemble import Ensemble, record_inputs
from ecgnet.records.reader import read_record
from ecgnet.signal import TARGET_FS, num_windows, resampled_length

IG_STEPS = 32
DEFAULT_OUT_DIR = "runs/explain"  # beside cv's runs/cv-<DATA> and demo's runs/demo
SMOOTH_S = 0.04  # display only: 40 ms, about a third of a QRS


def _window_starts(samples: int, length: int, overlap: int) -> list[int]:
    """Start sample of each inference window (``signal.inference_windows``' rule)."""
    if samples <= length:
        return [0]
    count = num_windows(samples, length, overlap)
    return [k * (length - overlap) for k in range(count - 1)] + [samples - length]


def integrated_gradients(model: torch.nn.Module, windows: np.ndarray, demographics: np.ndarray, target: int,
                         steps: int = IG_STEPS) -> np.ndarray:
    """(P, 12, L) Integrated Gradients of ``target``'s logit for windows (P, 12, L) mV, zero baseline."""
    from captum.attr import IntegratedGradients

    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    d = torch.from_numpy(np.repeat(np.asarray(demographics, dtype=np.float32)[None], len(x), axis=0))
    ig = IntegratedGradients(model)
    attributions = ig.attribute(x, baselines=torch.zeros_like(x), target=target, additional_forward_args=(d,),
                                n_steps=steps, internal_batch_size=max(steps, len(x)))
    return attributions.detach().numpy()


def stitch(window_values: np.ndarray, samples: int, overlap: int) -> np.ndarray:
    """Average per-window values (P, 12, L) back onto the record's (12, samples) time axis."""
    length = window_values.shape[2]
    total = np.zeros((window_values.shape[1], max(samples, length)))
    count = np.zeros(max(samples, length))
    for values, start in zip(window_values, _window_starts(samples, length, overlap)):
        total[:, start:start + length] += values
        count[start:start + length] += 1
    return total[:, :samples] / np.maximum(count, 1)[:samples]


def attribute_record(models: Iterable[torch.nn.Module], windows: np.ndarray, demographics: np.ndarray,
                     samples: int, overlap: int, target: int, absolute: bool = True) -> np.ndarray:
    """(12, samples) fold-mean Integrated Gradients (|.| per model when ``absolute``) for class index ``target``."""
    take = np.abs if absolute else np.asarray
    maps = [stitch(take(integrated_gradients(m, windows, demographics, target)), samples, overlap) for m in models]
    return np.mean(maps, axis=0)


def display_shade(attribution: np.ndarray, fs: float) -> np.ndarray:
    """Signed attribution (12, T) smoothed over ``SMOOTH_S`` and scaled to [-1, 1] by the 99th percentile of its size."""
    width = max(1, int(round(SMOOTH_S * fs)))
    kernel = np.ones(width) / width
    smooth = np.stack([np.convolve(lead, kernel, mode="same") for lead in attribution])
    top = np.percentile(np.abs(smooth), 99)
    return np.clip(smooth / top, -1, 1) if top > 0 else smooth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``explain`` sub-command's arguments: model directory, record, class and output picture."""
    parser.add_argument("model_dir", type=Path, help="a model directory (train_model.py, cv or demo)")
    parser.add_argument("record", type=Path, help="a record: NAME.hea, NAME.mat or NAME (the header and NAME.mat side by side)")
    parser.add_argument("--class", dest="target", type=class_argument, default=None, metavar="CLASS",
                        help="the class to explain, one the model scores (2020's 24, 2021's 26): abbreviation (e.g. LBBB) "
                             "or SNOMED CT code (e.g. 164909002) (default: the ensemble's top-scoring class)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"PNG to write, or a folder for it (default {DEFAULT_OUT_DIR}/NAME_explain_CLASS.png under the "
                             "current directory, like cv's runs/cv-...); an existing file is replaced, and the command says so")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet explain``: draw the record's 12 leads with the fold models' attributions; exit 0."""
    ensemble = Ensemble.load(args.model_dir, device="cpu")
    record = read_record(args.record.with_suffix(".hea"), gain_policy=ensemble.config.gain_policy)
    _, scores = ensemble.predict_record(record)
    classes = ensemble.config.classes
    target = int(np.argmax(scores)) if args.target is None else class_in(classes, args.target, args.model_dir)
    windows, demo = record_inputs(record, ensemble.config)
    samples = resampled_length(record.signal.shape[1], record.fs, TARGET_FS)
    signal = _stitched_signal(windows, samples, ensemble.config.overlap)
    models = progress(ensemble.models, "explain (fold models)", unit="model")
    attribution = attribute_record(models, windows, demo, samples, ensemble.config.overlap, target, absolute=False)
    name, code = classes.abbreviations[target], classes.codes[target]
    out = output_path(args.out, args.record, name)
    replaced = out.exists()
    title = (f"{record.name}: Integrated Gradients for {name} ({code}; red for, blue against), "
             f"ensemble score {scores[target]:.2f}, mean of {len(ensemble.models)} fold models")
    plot_12lead(signal, TARGET_FS, title, out, shade=display_shade(attribution, TARGET_FS))
    print(f"{name} score {scores[target]:.3f}; attribution plot: {out}" + (" (replaced the file there)" if replaced else ""))
    return 0


def output_path(out: Path | None, record: Path, target: str) -> Path:
    """Where ``explain`` writes the picture of ``record`` (a NAME.hea path) for the class abbreviated ``target``: ``out`` when
    it names a file, ``out/NAME_explain_CLASS.png`` when it is an existing folder, else ``DEFAULT_OUT_DIR/NAME_explain_CLASS.png``
    (relative to the current directory: never the data folder, which may be read-only or shared)."""
    name = f"{Path(record).stem}_explain_{target}.png"
    if out is None:
        return Path(DEFAULT_OUT_DIR) / name
    return out / name if out.is_dir() else out


def _stitched_signal(windows: np.ndarray, samples: int, overlap: int) -> np.ndarray:
    """The resampled record the windows came from, (12, samples) mV (zero-padding cut off)."""
    return stitch(windows.astype(np.float64), samples, overlap)
