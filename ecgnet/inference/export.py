"""``python -m ecgnet export MODEL_DIR OUT_DIR``: a model directory for onnxruntime and numpy, without torch or ecgnet.

OUT_DIR receives (names in ``fileio``; batch B and length N or L are dynamic in every graph):

- ``preprocess.onnx``: ``signal`` (B, 12, N) float32 mV at 257 Hz -> ``filtered`` (B, 12, N), the recipe's input
  levers of ``signal.prepare_input`` (its band-pass, its lead standardisation; the identity when it has neither);
- ``fold_K.onnx``, one per fold: ``windows`` (B, 12, L) and ``demographics`` (B, 5) float32 -> ``probabilities``
  (B, C), the sigmoid of fold K's logits (C: the model's class set, 24 for 2020, 26 for 2021);
- ``ecgnet_export.json`` (``EXPORT_SPEC``): what the graphs expect and what follows them: rate, units, lead order, the
  resampling call, the window rule, the age/sex encoding, each fold's thresholds, the vote, the classes.

The README's "Exporting to ONNX" holds the numpy code that runs them, and tests/test_export.py runs that code
against ``ensemble.Ensemble``.

Where the preprocessing lives. The band-pass is a zero-phase Butterworth (scipy's ``sosfiltfilt``): a recursive filter,
which numpy has no fast form of, so the graph applies it. Each of its two passes is the filter's impulse response
truncated where the rest sums below ``FIR_TAIL`` (about 3,100 taps for 0.5-40 Hz), run as a convolution of
``FIR_BLOCK``-sample blocks (a matrix product, measured 10x faster in onnxruntime than one long single-channel
convolution). scipy starts each pass from the steady state of the first sample (``sosfilt_zi``): here that sample is
repeated before the signal; its odd extension at both ends is scipy's. The graph matches ``sosfiltfilt`` to about
5e-6 mV. Resampling stays outside: its filter depends on the record's rate, and scipy's ``resample_poly`` called as the
JSON says is ecgnet's resampling sample for sample; a record already at 257 Hz needs numpy alone. Windows and the
age/sex vector are a few numpy lines whose rules the JSON gives.

The exporter is torch's TorchScript-based one (``dynamo=False``): with the pinned torch it exports these networks with
dynamic batch and length and needs only ``onnx``, while the ``torch.export``-based one also needs ``onnxscript`` and
fixed the window length to the example's. onnxruntime checks every graph against its source before anything is
written: the networks against torch (``PARITY_TOLERANCE``), the preprocessing against ``signal.prepare_input``.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from ecgnet import __version__
from ecgnet.config import Config
from ecgnet.errors import ModelDirError
from ecgnet.fileio import EXPORT_SPEC, MANIFEST, PREPROCESS_GRAPH, atomic_write_bytes, atomic_write_text
from ecgnet.inference.ensemble import Ensemble
from ecgnet.leads import LEADS
from ecgnet.network.model import LEADS_IN, SEResNet
from ecgnet.records.reader import MIN_DURATION_S
from ecgnet.signal import BANDPASS_ORDER, DEMOGRAPHIC_FEATURES, TARGET_FS, bandpass_sos, prepare_input

log = logging.getLogger(__name__)

OPSET = 17
FIR_TAIL = 1e-8  # the impulse response is cut where the sum of its remaining magnitudes falls below this (per mV of input)
FIR_BLOCK = 64  # samples per block of the band-pass convolution
FIR_MAX_TAPS = 1 << 16  # a band-pass whose response lasts longer (a low edge far below 0.5 Hz) is refused
PARITY_TOLERANCE = 1e-4  # largest difference allowed between onnxruntime's and torch's probabilities
FILTER_TOLERANCE = 1e-4  # mV: largest difference allowed between the preprocessing graph and signal.prepare_input
REQUIRED = ("onnx", "onnxruntime")  # beyond requirements.txt; pinned in requirements-onnx.txt
DEMOGRAPHICS = ("age / 100 (0 when unknown)", "1 when the age is unknown", "1 when female", "1 when male",
                "1 when the sex is known")
VOTE = ("each fold marks the classes whose probability (the mean over the record's windows) is at or above its "
        "threshold, and its most probable class (the first on ties); a class is output when more than half of the folds "
        "mark it; the class with the most marks (ties: the higher mean probability) is always output. A class's score is "
        "the mean of the folds' probabilities.")


def fold_graph_name(fold: dict) -> str:
    """The ONNX file of a manifest fold entry: its weights file's name with ``.onnx`` (``fold_K.pt`` -> ``fold_K.onnx``)."""
    return Path(fold["weights"]).with_suffix(".onnx").name


def impulse_response(sos: np.ndarray) -> np.ndarray:
    """The causal impulse response of second-order sections ``sos`` (float64), cut where its remaining magnitudes sum
    below ``FIR_TAIL``. Raises ``ValueError`` when it lasts more than ``FIR_MAX_TAPS`` samples."""
    impulse = np.zeros(FIR_MAX_TAPS)
    impulse[0] = 1.0
    response = scipy.signal.sosfilt(sos, impulse)
    tail = np.cumsum(np.abs(response)[::-1])[::-1]  # tail[k]: the magnitudes from sample k on
    if tail[-1] >= FIR_TAIL:
        raise ValueError(f"the band-pass's impulse response lasts over {FIR_MAX_TAPS} samples: its low edge is too low to export")
    return response[:int(np.argmax(tail < FIR_TAIL))]


def odd_extension_length(sos: np.ndarray) -> int:
    """scipy ``sosfiltfilt``'s default ``padlen``: three times the taps of the cascade, less the zero ones at its ends."""
    taps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * taps


def block_weights(taps: np.ndarray, block: int = FIR_BLOCK) -> np.ndarray:
    """A causal FIR as a convolution over blocks: weights (block, block, C + 1) with ``C = ceil(len(taps) / block)``.

    Output sample ``i`` of block ``b`` is the sum over input blocks ``b - d`` (d = 0..C) and their samples ``j`` of
    ``taps[d * block + i - j]``; the kernel's position ``C - d`` holds lag ``d`` because a convolution looks forward.
    """
    spans = -(-len(taps) // block)
    lag, out, inp = np.meshgrid(np.arange(spans + 1), np.arange(block), np.arange(block), indexing="ij")
    index = lag * block + out - inp
    values = np.where((index >= 0) & (index < len(taps)), taps[np.clip(index, 0, len(taps) - 1)], 0.0)
    return values[::-1].transpose(1, 2, 0).astype(np.float32)  # (lag, out, in) -> (out, in, kernel position)


class _BlockFIR(nn.Module):
    """A causal FIR over the last axis of (B, 12, N), started from the steady state of the first sample."""

    def __init__(self, taps: np.ndarray):
        super().__init__()
        self.register_buffer("weight", torch.from_numpy(block_weights(taps)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block, spans = self.weight.shape[0], self.weight.shape[2] - 1
        n = x.shape[-1]
        rows = x.reshape(-1, 1, n)
        # The first sample repeated over the response's span: the state of a filter fed it forever (scipy's sosfilt_zi).
        rows = F.pad(rows, (spans * block, (block - n % block) % block), mode="replicate")[:, 0]
        blocks = rows.reshape(rows.shape[0], -1, block).transpose(1, 2)  # (rows, phase, block number)
        out = F.conv1d(blocks, self.weight).transpose(1, 2).reshape(rows.shape[0], -1)
        return out[:, :n].reshape(x.shape)


class _Preprocess(nn.Module):
    """``signal.prepare_input`` of a config on (B, 12, N) at 257 Hz: the zero-phase band-pass, then the standardisation."""

    def __init__(self, config: Config):
        super().__init__()
        sos = bandpass_sos(config.bandpass_low_hz, config.bandpass_high_hz)
        self.fir = None if sos is None else _BlockFIR(impulse_response(sos))
        self.edge = 0 if sos is None else odd_extension_length(sos)
        self.standardise = config.lead_standardisation == "record"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fir is not None:
            e = self.edge  # scipy's odd extension: the signal mirrored through its end samples
            left = 2 * x[..., :1] - torch.flip(x[..., 1:e + 1], [-1])
            right = 2 * x[..., -1:] - torch.flip(x[..., -e - 1:-1], [-1])
            y = self.fir(torch.cat([left, x, right], dim=-1))
            x = torch.flip(self.fir(torch.flip(y, [-1])), [-1])[..., e:-e]
        if self.standardise:
            centred = x - x.mean(dim=-1, keepdim=True)
            sd = centred.pow(2).mean(dim=-1, keepdim=True).sqrt()
            x = centred / torch.where(sd > 0, sd, torch.ones_like(sd))
        return x


class _Probabilities(nn.Module):
    """A fold model with its sigmoid: windows (B, 12, L), demographics (B, 5) -> probabilities (B, C)."""

    def __init__(self, model: SEResNet):
        super().__init__()
        self.model = model

    def forward(self, windows: torch.Tensor, demographics: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(windows, demographics))


def _onnx_bytes(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: dict[str, dict], output: str) -> bytes:
    """``module`` (eval mode) as an ONNX graph: ``inputs`` maps each input's name to its dynamic axes, which the output shares."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice, and tracer notes on the shape arithmetic the checks cover.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module.eval(), example, buffer, input_names=list(inputs), output_names=[output], opset_version=OPSET,
                          dynamic_axes={**inputs, output: next(iter(inputs.values()))}, dynamo=False)
    return buffer.getvalue()


def _run(graph: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _check(name: str, difference: float, tolerance: float) -> None:
    if not difference <= tolerance:
        raise RuntimeError(f"{name}: onnxruntime differs from its source by {difference:.3g} (tolerance {tolerance:g}); nothing was written")


def preprocess_graph(config: Config) -> bytes:
    """The preprocessing graph of ``config``, checked against ``signal.prepare_input`` on two records of another length."""
    example = torch.zeros(1, LEADS_IN, 4 * TARGET_FS)
    graph = _onnx_bytes(_Preprocess(config), (example,), {"signal": {0: "batch", 2: "samples"}}, "filtered")
    rng = np.random.default_rng(0)
    records = (rng.normal(0, 0.05, (2, LEADS_IN, 10 * TARGET_FS + 3)).cumsum(axis=-1) + 2).astype(np.float32)
    reference = np.stack([prepare_input(record, config) for record in records])
    _check(PREPROCESS_GRAPH, float(np.abs(_run(graph, {"signal": records}) - reference).max()), FILTER_TOLERANCE)
    return graph


def network_graph(model: SEResNet, config: Config, name: str) -> bytes:
    """One fold model's graph, checked against torch on a batch and a window length other than the example's."""
    example = (torch.zeros(2, LEADS_IN, config.window), torch.zeros(2, DEMOGRAPHIC_FEATURES))
    axes = {"windows": {0: "batch", 2: "samples"}, "demographics": {0: "batch"}}
    graph = _onnx_bytes(_Probabilities(model), example, axes, "probabilities")
    generator = torch.Generator().manual_seed(0)
    windows = torch.randn(3, LEADS_IN, config.window - config.network.stride, generator=generator)
    demographics = torch.rand(3, DEMOGRAPHIC_FEATURES, generator=generator)
    with torch.inference_mode():
        reference = torch.sigmoid(model.eval()(windows, demographics)).numpy()
    output = _run(graph, {"windows": windows.numpy(), "demographics": demographics.numpy()})
    _check(name, float(np.abs(output - reference).max()), PARITY_TOLERANCE)
    return graph


def export_spec(ensemble: Ensemble, graphs: list[str], manifest_sha256: str) -> dict:
    """The content of ``EXPORT_SPEC``: everything a numpy caller of the graphs needs (see the module's docstring)."""
    config = ensemble.config
    sos = bandpass_sos(config.bandpass_low_hz, config.bandpass_high_hz)
    return {
        "format_version": 1,
        "made_by": {"ecgnet": __version__, "torch": torch.__version__, "opset": OPSET, "manifest_sha256": manifest_sha256},
        "input": {
            "fs": TARGET_FS, "units": "mV", "leads": list(LEADS), "dtype": "float32",
            "min_samples": int(MIN_DURATION_S * TARGET_FS),
            "resampling": (f"a record at another integer rate fs up to 2000 Hz, as ecgnet resamples it (signal.resample): "
                           f"scipy.signal.resample_poly(signal.astype(np.float32), {TARGET_FS}, fs, axis=1, window=('kaiser', 5.0), "
                           f"padtype='line')[:, :int(signal.shape[1] / fs * {TARGET_FS})]"),
        },
        "preprocess": {
            "graph": PREPROCESS_GRAPH, "input": "signal (B, 12, N)", "output": "filtered (B, 12, N)",
            "bandpass": None if sos is None else {
                "low_hz": config.bandpass_low_hz, "high_hz": config.bandpass_high_hz, "order": BANDPASS_ORDER,
                "filter": "Butterworth, zero phase (scipy.signal.sosfiltfilt), applied by the graph (0 Hz: that edge open)"},
            "lead_standardisation": config.lead_standardisation,
        },
        "windows": {
            "length": config.window, "overlap": config.overlap, "pad_multiple": config.pad_multiple,
            "rule": ("N <= length: one window, zero-padded at the end to length (pad_multiple > 0: to the smallest multiple of "
                     "pad_multiple that holds N, at most length); N > length: windows starting every length - overlap samples "
                     "from 0, the last one moved back to end at sample N"),
        },
        "demographics": {"features": list(DEMOGRAPHICS), "age": "years", "sex": ["Female", "Male", None]},
        "networks": {"graphs": graphs, "inputs": ["windows (B, 12, L)", "demographics (B, 5)"],
                     "output": f"probabilities (B, {config.classes.num_classes})",
                     "record": "each fold's probabilities are averaged over the record's windows"},
        "thresholds": ensemble.thresholds.tolist(),
        "vote": VOTE,
        "challenge": config.classes.name,
        "classes": [{"code": code, "abbreviation": config.classes.abbreviation(code), "name": config.classes.description(code)}
                    for code in ensemble.manifest["classes"]],
    }


def export_model(model_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> dict:
    """Write ``OUT_DIR``'s graphs and ``EXPORT_SPEC`` for the model directory ``model_dir``; returns the spec.

    Raises ``ModelDirError`` for a bad model directory (``modeldir.load_manifest``) or one of reduced lead sets (its
    networks read a lead-presence vector the exported code does not make yet), ``FileExistsError`` when an output
    file exists and ``overwrite`` is off, ``RuntimeError`` when onnxruntime disagrees with torch or scipy.
    Every graph is made and checked before the first file is written; each file is written atomically.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    ensemble = Ensemble.load(model_dir, device="cpu", precision="fp32")
    if ensemble.config.lead_presence:
        raise ModelDirError(f"{model_dir}: trained for the lead sets {ensemble.config.lead_sets!r}; export covers twelve-lead "
                            f"models (lead_sets \"12\"), whose networks take age and sex only")
    names = [fold_graph_name(fold) for fold in ensemble.manifest["folds"]]
    existing = [str(out_dir / name) for name in (PREPROCESS_GRAPH, *names, EXPORT_SPEC) if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)}: already there; export into another folder, or pass --overwrite")
    files = {PREPROCESS_GRAPH: preprocess_graph(ensemble.config)}
    for name, model in zip(names, ensemble.models):
        files[name] = network_graph(model, ensemble.config, name)
    spec = export_spec(ensemble, names, hashlib.sha256((model_dir / MANIFEST).read_bytes()).hexdigest())
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, graph in files.items():
        atomic_write_bytes(out_dir / name, graph)
    atomic_write_text(out_dir / EXPORT_SPEC, json.dumps(spec, indent=2) + "\n")
    return spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` sub-command's arguments: the model directory, the output folder, ``--overwrite``."""
    parser.add_argument("model_dir", type=Path, help="model directory (train_model.py, cv or demo wrote it)")
    parser.add_argument("out_dir", type=Path, help=f"folder for the ONNX graphs and {EXPORT_SPEC} (created if absent)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier export in OUT_DIR")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet export``: exit 0, or 2 with one line when onnx/onnxruntime is missing or a file exists."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        log.error("export needs %s, which ecgnet's runtime does not: pip install -r requirements-onnx.txt (or pip install "
                  "'ecgnet[onnx]')", " and ".join(missing))
        return 2
    try:
        spec = export_model(args.model_dir, args.out_dir, overwrite=args.overwrite)
    except FileExistsError as error:
        log.error("%s", error)
        return 2
    print(f"{args.out_dir}: {PREPROCESS_GRAPH}, {len(spec['networks']['graphs'])} fold graph(s) and {EXPORT_SPEC} "
          f"(checked against torch to {PARITY_TOLERANCE:g}); the README's \"Exporting to ONNX\" shows how to run them")
    return 0
