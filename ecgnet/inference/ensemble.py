"""From fold models to binary outputs and scores: window averaging, thresholds and the vote.

API:

- ``record_inputs(record, config) -> (windows (P, 12, L), demographics (5,))``: a
  ``records.reader.Record`` resampled to 257 Hz and cut into ``signal.inference_windows``.
- ``fold_probabilities(models, dataset, config, ...) -> (F, N, 24)``: per model, the
  sigmoid outputs averaged over each record's windows. ``dataset`` is a ``cache.Cache``
  (optionally with ``indices``) or a list of ``Record``; the windows go through the
  network in batches of at most ``config.inference_batch``, filled from consecutive
  records (a long record's windows span several batches), so memory stays bounded.
- ``predict_probabilities(models, dataset, config, ...) -> (N, 24)``: their fold mean.
- ``inference_forms(models, device)``: the networks to predict with; on the CPU each
  ``SEResNet`` as its ``model.InferenceSEResNet`` (same outputs to float tolerance, faster).
- ``vote(probabilities (F, N, 24), thresholds (F, 24)) -> (outputs, scores)``: each fold
  marks the classes at or above its thresholds plus its top class; a class is output
  when more than half of the folds mark it (>= 3 of 5), and the top-voted class (ties
  broken by the mean probability) is always output; the score is the mean probability
  (Zhao et al., "Adaptive Lead Weighted ResNet Trained With Different Duration
  Signals for Classifying 12-lead ECGs", CinC 2020).
- ``Ensemble.load(model_dir)``: the validated model directory, ready to predict (with
  the models' inference forms);
  ``Ensemble.predict_record(record) -> (outputs bool (24,), scores float (24,))`` is what
  ``run_12ECG_classifier`` uses, one record at a time; ``Ensemble.predict_records(records)
  -> (outputs (N, 24), scores (N, 24))`` is what ``driver.py`` uses on the records it has
  read ahead, so several records share each forward pass.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.challenge.thresholds import apply_thresholds
from ecgnet.config import Config
from ecgnet.device import check_precision, choose_device, inference_autocast
from ecgnet.modeldir import load_manifest, load_weights
from ecgnet.network.model import InferenceSEResNet, SEResNet
from ecgnet.records.reader import Record
from ecgnet.signal import encode_demographics, inference_windows, prepare_input, resample


def record_inputs(record: Record, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The network inputs of one record: windows (P, 12, L) float32 at 257 Hz (L: ``config.window``, or shorter
    under ``pad_to = "stride"``), demographics (5,)."""
    return _windows(resample(record.signal, record.fs), config), encode_demographics(record.age, record.sex)


def _windows(signal: np.ndarray, config: Config) -> np.ndarray:
    """The inference windows of a 257-Hz (12, N) mV signal under ``config``: its input levers, window, overlap and padding."""
    return inference_windows(prepare_input(signal, config), config.window, config.overlap, config.pad_multiple)


def _dataset_inputs(dataset, config: Config, indices: Sequence[int] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(windows (P, 12, L), demographics (5,)) of each record of a list of ``Record`` or a ``cache.Cache``."""
    if isinstance(dataset, (list, tuple)):
        for record in dataset if indices is None else (dataset[i] for i in indices):
            yield record_inputs(record, config)
        return
    for i in range(len(dataset)) if indices is None else indices:
        yield _windows(dataset.signal(i), config), dataset.demographics[i]


def _window_batches(inputs: Iterator[tuple[np.ndarray, np.ndarray]], size: int
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches (windows (B, 12, L), demographics (B, 5), record number (B,)) of ``size`` windows, the last one fewer.

    Consecutive records share a batch and a record's windows may span several, so no
    batch is bigger than ``size`` whatever the records' lengths. A batch holds windows of
    one length: a record whose windows are shorter or longer (``pad_to = "stride"``)
    starts the next one.
    """
    pieces: list[tuple[np.ndarray, np.ndarray, int]] = []
    filled = 0
    for number, (windows, record_demographics) in enumerate(inputs):
        if pieces and pieces[0][0].shape[2] != windows.shape[2]:
            yield _stack(pieces)
            pieces, filled = [], 0
        start = 0
        while start < len(windows):
            piece = windows[start:start + size - filled]
            pieces.append((piece, record_demographics, number))
            start += len(piece)
            filled += len(piece)
            if filled == size:
                yield _stack(pieces)
                pieces, filled = [], 0
    if pieces:
        yield _stack(pieces)


def _stack(pieces: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    windows = np.concatenate([piece for piece, _, _ in pieces])
    repeated = np.concatenate([np.broadcast_to(np.asarray(d, np.float32), (len(piece), len(d))) for piece, d, _ in pieces])
    numbers = np.concatenate([np.full(len(piece), number) for piece, _, number in pieces])
    return windows, repeated, numbers


def inference_forms(models: Sequence[nn.Module], device: torch.device) -> list[nn.Module]:
    """The networks the forward passes use, in eval mode: on the CPU each ``SEResNet`` as its ``InferenceSEResNet``
    (same outputs to float tolerance, measured faster there), elsewhere the models themselves (not measured)."""
    for model in models:
        model.eval()
    if device.type != "cpu":
        return list(models)
    return [model if isinstance(model, InferenceSEResNet) else InferenceSEResNet(model) for model in models]


def _forward(models: Sequence[nn.Module], windows: np.ndarray, demographics_batch: np.ndarray, device: torch.device,
             precision: str) -> np.ndarray:
    """(F, B, 24) sigmoid outputs of every model on windows (B, 12, L) with demographics (B, 5)."""
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
    d = torch.from_numpy(np.ascontiguousarray(demographics_batch, dtype=np.float32)).to(device)
    with torch.inference_mode(), inference_autocast(device, precision):
        return np.stack([torch.sigmoid(model(x, d).float()).cpu().numpy() for model in models])


def fold_probabilities(models: Sequence[nn.Module], dataset, config: Config, indices: Sequence[int] | None = None,
                       device: torch.device | None = None, precision: str = "fp32") -> np.ndarray:
    """(F, N, 24) float64: each model's sigmoid outputs averaged over each record's windows.

    ``dataset``: a list of ``Record`` (resampled and windowed here) or a ``cache.Cache``
    (already at 257 Hz); ``indices`` picks and orders its records (N of them). At most
    ``config.inference_batch`` windows go through the network at once. ``models`` (switched to
    eval mode) run as given: ``SEResNet`` or, faster, their ``inference_forms``.
    """
    device = device or next(models[0].parameters()).device
    for model in models:
        model.eval()
    count = len(dataset) if indices is None else len(indices)
    totals = np.zeros((count, len(models), NUM_CLASSES))  # per record: the sum of its windows' outputs
    windows_per_record = np.zeros(count)
    batches = _window_batches(_dataset_inputs(dataset, config, indices), max(1, config.inference_batch))
    for windows, demographics_batch, numbers in batches:
        outputs = _forward(models, windows, demographics_batch, device, precision)
        np.add.at(totals, numbers, outputs.transpose(1, 0, 2))
        np.add.at(windows_per_record, numbers, 1)
    return (totals / np.maximum(windows_per_record, 1)[:, None, None]).transpose(1, 0, 2)


def predict_probabilities(models: Sequence[nn.Module], dataset, config: Config, indices: Sequence[int] | None = None,
                          device: torch.device | None = None, precision: str = "fp32") -> np.ndarray:
    """(N, 24) float64: the fold mean of ``fold_probabilities`` (same arguments)."""
    return fold_probabilities(models, dataset, config, indices, device, precision).mean(axis=0)


def vote(probabilities: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote of the folds: probabilities (F, N, C), thresholds (F, C) -> (outputs (N, C) bool, scores (N, C)).

    ``scores`` is the fold mean of the probabilities. Raises ``ValueError`` when the shapes disagree.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probabilities.ndim != 3 or thresholds.shape != (probabilities.shape[0], probabilities.shape[2]):
        raise ValueError(f"probabilities (F, N, C) {probabilities.shape} and thresholds (F, C) {thresholds.shape} disagree")
    folds = probabilities.shape[0]
    votes = np.stack([apply_thresholds(p, t) for p, t in zip(probabilities, thresholds)]).sum(axis=0)
    scores = probabilities.mean(axis=0)
    outputs = 2 * votes > folds
    # Scores lie in [0, 1], so half a score never outweighs one vote: it only breaks ties.
    top = np.argmax(votes + scores / 2, axis=1)
    outputs[np.arange(len(outputs)), top] = True
    return outputs, scores


@dataclass
class Ensemble:
    """The fold models of a model directory with their thresholds (F, 24) and settings.

    ``models`` are the eager networks (attributions use them); ``networks`` their
    ``inference_forms``, which the predictions use.
    """

    models: list[SEResNet]
    thresholds: np.ndarray  # (F, 24)
    config: Config
    manifest: dict
    device: torch.device
    precision: str = "fp32"
    networks: list[nn.Module] = field(default_factory=list)

    def __post_init__(self):
        self.networks = self.networks or inference_forms(self.models, self.device)

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str | None = None, precision: str | None = None) -> Ensemble:
        """Validate ``model_dir`` (see ``modeldir.load_manifest``) and load every fold model."""
        manifest = load_manifest(model_dir)
        config = Config.from_dict(manifest["config"])
        device = choose_device(device if isinstance(device, str) or device is None else str(device))
        models = []
        for fold in manifest["folds"]:
            model = SEResNet(config.network)
            model.load_state_dict(load_weights(model_dir, fold))
            models.append(model.to(device).eval())
        thresholds = np.array([fold["thresholds"] for fold in manifest["folds"]], dtype=np.float64)
        return cls(models, thresholds, config, manifest, device, check_precision(precision or config.cpu_precision))

    def predict_records(self, records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
        """Binary outputs (N, 24) bool and scores (N, 24) float64 of N records: resample, window, forward, vote.

        The records' windows share forward passes (at most ``config.inference_batch``
        windows each), so the scores equal one-record calls to float tolerance (about
        1e-7: the kernels' summation order depends on the batch size), not bit for bit.
        """
        probabilities = fold_probabilities(self.networks, list(records), self.config, device=self.device, precision=self.precision)
        return vote(probabilities, self.thresholds)

    def predict_record(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        """One record's binary outputs (bool, 24) and scores (float64, 24); ``run_12ECG_classifier``'s path."""
        outputs, scores = self.predict_records([record])
        return outputs[0], scores[0]
