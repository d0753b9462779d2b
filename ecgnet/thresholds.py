"""Per-class decision thresholds: the seed's constrained grid search, vectorised.

``search_thresholds(labels, probabilities, passes=1)`` returns 24 thresholds that
maximise the challenge score on the records given (a fold's inner validation split):

1. one global threshold for every class, searched on 0.0, 0.1, ..., 1.0;
2. then, class by class with the others fixed, each threshold on 0.00, 0.01, ..., 1.00;
   ``passes > 1`` repeats step 2 (coordinate ascent; the seed does one pass).

The labels scored are exactly what a fold model outputs (``apply_thresholds``): every
class at or above its threshold plus the record's most probable class, so the search
optimises the rule that is used. All candidates of one step are scored in one call of
``metrics.ChallengeMetric.score`` on a (K, N, 24) batch. Ties keep the current value when
it is among the best, else the lowest best candidate, so the result is deterministic.
"""
from __future__ import annotations

import numpy as np

from .metrics import ChallengeMetric

GLOBAL_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
CLASS_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


def top_class_mask(probabilities: np.ndarray) -> np.ndarray:
    """(N, C) bool with one True per record: its most probable class (first on ties)."""
    mask = np.zeros(probabilities.shape, dtype=bool)
    mask[np.arange(len(probabilities)), np.argmax(probabilities, axis=1)] = True
    return mask


def apply_thresholds(probabilities: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """A fold model's labels: probability >= threshold, and always the top class."""
    probabilities = np.asarray(probabilities)
    return (probabilities >= thresholds) | top_class_mask(probabilities)


def _pick(scores: np.ndarray, grid: np.ndarray, current: float | None) -> float:
    best = scores.max()
    winners = np.flatnonzero(scores >= best - 1e-12)
    if current is not None:
        hit = np.flatnonzero(np.isclose(grid[winners], current))
        if hit.size:
            return float(current)
    return float(grid[winners[0]])


def global_threshold(labels: np.ndarray, probabilities: np.ndarray, metric: ChallengeMetric | None = None) -> float:
    """Step 1 of the search alone: the best single threshold for every class on ``GLOBAL_GRID``."""
    metric = metric or ChallengeMetric(np.asarray(labels, dtype=bool))
    batch = (np.asarray(probabilities)[None] >= GLOBAL_GRID[:, None, None]) | top_class_mask(probabilities)[None]
    return _pick(metric.score(batch), GLOBAL_GRID, None)


def search_thresholds(labels: np.ndarray, probabilities: np.ndarray, passes: int = 1,
                      metric: ChallengeMetric | None = None) -> np.ndarray:
    """The constrained grid search; returns float64 thresholds, one per class."""
    labels = np.asarray(labels, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probabilities.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} must be the same (N, C) shape")
    if len(labels) == 0:
        raise ValueError("no records to search thresholds on")
    metric = metric or ChallengeMetric(labels)
    top = top_class_mask(probabilities)
    thresholds = np.full(labels.shape[1], global_threshold(labels, probabilities, metric))

    outputs = apply_thresholds(probabilities, thresholds)
    for _ in range(passes):
        for c in range(labels.shape[1]):
            batch = np.repeat(outputs[None], len(CLASS_GRID), axis=0)
            batch[:, :, c] = (probabilities[None, :, c] >= CLASS_GRID[:, None]) | top[None, :, c]
            thresholds[c] = _pick(metric.score(batch), CLASS_GRID, thresholds[c])
            outputs[:, c] = (probabilities[:, c] >= thresholds[c]) | top[:, c]
    return thresholds
