"""From fold models to labels and scores: window averaging, thresholds and the vote.

API:

- ``record_inputs(record, config) -> (windows (P, 12, L), demographics (5,))``: a
  ``records.Record`` resampled to 257 Hz and cut into ``signal.inference_windows``.
- ``fold_probabilities(models, source, config, ...) -> (F, N, 24)``: per model, the
  sigmoid outputs averaged over each record's windows. ``source`` is a ``cache.Cache``
  (optionally with ``indices``) or a list of ``Record``; windows of several records
  are batched together (``config.inference_batch``) for speed, long records split across batches.
- ``predict_probabilities(models, source, config, ...) -> (N, 24)``: their fold mean.
- ``vote(probabilities (F, N, 24), thresholds (F, 24)) -> (labels, scores)``: each fold
  labels the classes at or above its thresholds plus its top class; a class is output
  when more than half of the folds label it (>= 3 of 5), and the top-voted class (ties
  broken by the mean probability) is always output; the score is the mean probability.
- ``Ensemble.load(model_dir)``: the validated model directory, ready to predict;
  ``Ensemble.predict_record(record) -> (labels bool (24,), scores float (24,))`` is what
  ``run_12ECG_classifier`` and ``driver.py`` use, one record at a time, so the driver's
  files equal per-record calls byte for byte.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .classes import NUM_CLASSES
from .config import Config
from .device import check_precision, choose_device, inference_autocast
from .model import SEResNet, encode_demographics
from .modeldir import load_manifest, load_weights
from .records import Record
from .signal import inference_windows, resample
from .thresholds import apply_thresholds

log = logging.getLogger(__name__)


def record_inputs(record: Record, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The network inputs of one record: its inference windows and demographics vector."""
    signal = resample(record.signal, record.fs)
    return inference_windows(signal, config.window, config.overlap), encode_demographics(record.age, record.sex)


def _source_inputs(source, config: Config, indices: Sequence[int] | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if isinstance(source, (list, tuple)):
        for record in source if indices is None else (source[i] for i in indices):
            yield record_inputs(record, config)
        return
    for i in range(len(source)) if indices is None else indices:
        yield inference_windows(source.signal(i), config.window, config.overlap), source.demographics[i]


def _forward(models: Sequence[SEResNet], windows: np.ndarray, demo: np.ndarray, device: torch.device,
             precision: str) -> np.ndarray:
    """(F, P, C) sigmoid outputs of every model on a batch of windows."""
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
    d = torch.from_numpy(np.ascontiguousarray(demo, dtype=np.float32)).to(device)
    with torch.inference_mode(), inference_autocast(device, precision):
        return np.stack([torch.sigmoid(model(x, d).float()).cpu().numpy() for model in models])


def fold_probabilities(models: Sequence[SEResNet], source, config: Config, indices: Sequence[int] | None = None,
                       device: torch.device | None = None, precision: str = "fp32") -> np.ndarray:
    """(F, N, 24) float64: each model's window-averaged probabilities for each record.

    Windows of consecutive records share batches of ``config.inference_batch``, and a long
    record's windows are split across batches, so memory stays bounded whatever the lengths.
    """
    device = device or next(models[0].parameters()).device
    for model in models:
        model.eval()
    step = max(1, config.inference_batch)
    results: list[np.ndarray] = []
    counts: deque[int] = deque()  # windows of each record not yet averaged
    waiting_w: list[np.ndarray] = []
    waiting_d: list[np.ndarray] = []
    done = np.zeros((len(models), 0, NUM_CLASSES), dtype=np.float32)  # window outputs not yet averaged

    def run(final: bool) -> None:
        nonlocal done
        windows, demo = np.concatenate(waiting_w), np.concatenate(waiting_d)
        cut = len(windows) if final else len(windows) - len(windows) % step
        outputs = [done] + [_forward(models, windows[i:i + step], demo[i:i + step], device, precision) for i in range(0, cut, step)]
        done = np.concatenate(outputs, axis=1)
        waiting_w[:], waiting_d[:] = [windows[cut:]], [demo[cut:]]
        while counts and done.shape[1] >= counts[0]:
            count = counts.popleft()
            results.append(done[:, :count].astype(np.float64).mean(axis=1))
            done = done[:, count:]

    for windows, demo in _source_inputs(source, config, indices):
        waiting_w.append(windows)
        waiting_d.append(np.repeat(np.asarray(demo, dtype=np.float32)[None], len(windows), axis=0))
        counts.append(len(windows))
        if sum(len(w) for w in waiting_w) >= step:
            run(final=False)
    if counts:
        run(final=True)
    if not results:
        return np.zeros((len(models), 0, NUM_CLASSES))
    return np.stack(results, axis=1)


def predict_probabilities(models: Sequence[SEResNet], source, config: Config, indices: Sequence[int] | None = None,
                          device: torch.device | None = None, precision: str = "fp32") -> np.ndarray:
    """(N, 24): the fold mean of ``fold_probabilities``."""
    return fold_probabilities(models, source, config, indices, device, precision).mean(axis=0)


def vote(probabilities: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote of the fold labels; returns (labels (N, C) bool, scores (N, C) mean probability)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probabilities.ndim != 3 or thresholds.shape != (probabilities.shape[0], probabilities.shape[2]):
        raise ValueError(f"probabilities (F, N, C) {probabilities.shape} and thresholds (F, C) {thresholds.shape} disagree")
    folds = probabilities.shape[0]
    votes = np.stack([apply_thresholds(p, t) for p, t in zip(probabilities, thresholds)]).sum(axis=0)
    scores = probabilities.mean(axis=0)
    labels = 2 * votes > folds
    # Scores lie in [0, 1], so half a score never outweighs one vote: it only breaks ties.
    top = np.argmax(votes + scores / 2, axis=1)
    labels[np.arange(len(labels)), top] = True
    return labels, scores


@dataclass
class Ensemble:
    """The fold models of a model directory with their thresholds and settings."""

    models: list[SEResNet]
    thresholds: np.ndarray  # (F, 24)
    config: Config
    manifest: dict
    device: torch.device
    precision: str = "fp32"

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

    def predict_record(self, record: Record) -> tuple[np.ndarray, np.ndarray]:
        """Labels (bool, 24) and scores (float64, 24) of one record."""
        probabilities = fold_probabilities(self.models, [record], self.config, device=self.device, precision=self.precision)
        labels, scores = vote(probabilities, self.thresholds)
        return labels[0], scores[0]
