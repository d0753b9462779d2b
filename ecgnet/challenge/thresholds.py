"""Per-class decision thresholds: the seed's constrained grid search, vectorised.

``search_thresholds(y_true, y_score, passes=1)`` returns 24 thresholds that maximise
the challenge score on the records given (a fold's inner validation split), with
``y_true`` the (N, C) bool labels and ``y_score`` the (N, C) probabilities:

1. one global threshold for every class, searched on 0.0, 0.1, ..., 1.0;
2. then, class by class with the others fixed, each threshold on 0.00, 0.01, ..., 1.00;
   ``passes > 1`` repeats step 2 (coordinate ascent; the seed does one pass).

The outputs scored are exactly what a fold model outputs (``apply_thresholds``): every
class at or above its threshold plus the record's most probable class, so the search
optimises the rule that is used. All candidates of one step are scored in one call of
``metrics.ChallengeMetric.score`` on a (K, N, 24) batch. Ties keep the current value when
it is among the best, else the lowest best candidate, so the result is deterministic.
Source: the seed entry (Zhao et al., "Adaptive Lead Weighted ResNet Trained With Different
Duration Signals for Classifying 12-lead ECGs", CinC 2020).
"""
from __future__ import annotations

import numpy as np

from ecgnet.challenge.metrics import ChallengeMetric

GLOBAL_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
CLASS_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


def top_class_mask(y_score: np.ndarray) -> np.ndarray:
    """(N, C) bool with one True per record: its most probable class in ``y_score`` (N, C) (first on ties)."""
    mask = np.zeros(y_score.shape, dtype=bool)
    mask[np.arange(len(y_score)), np.argmax(y_score, axis=1)] = True
    return mask


def apply_thresholds(y_score: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """A fold model's binary outputs ``y_pred`` (N, C): ``y_score >= thresholds`` (C,) or scalar, and always the top class."""
    y_score = np.asarray(y_score)
    return (y_score >= thresholds) | top_class_mask(y_score)


def _pick(scores: np.ndarray, grid: np.ndarray, current: float | None) -> float:
    """The grid value of the best score: ``current`` when it ties for best, else the first best."""
    best = scores.max()
    winners = np.flatnonzero(scores >= best - 1e-12)
    if current is not None:
        hit = np.flatnonzero(np.isclose(grid[winners], current))
        if hit.size:
            return float(current)
    return float(grid[winners[0]])


def global_threshold(y_true: np.ndarray, y_score: np.ndarray, metric: ChallengeMetric | None = None) -> float:
    """Step 1 of the search alone: the best single threshold for every class on ``GLOBAL_GRID``.

    ``y_true`` (N, C) bool, ``y_score`` (N, C) float; ``metric`` reuses a ``ChallengeMetric`` built on ``y_true``.
    """
    metric = metric or ChallengeMetric(np.asarray(y_true, dtype=bool))
    batch = (np.asarray(y_score)[None] >= GLOBAL_GRID[:, None, None]) | top_class_mask(y_score)[None]
    return _pick(metric.score(batch), GLOBAL_GRID, None)


def search_thresholds(y_true: np.ndarray, y_score: np.ndarray, passes: int = 1,
                      metric: ChallengeMetric | None = None) -> np.ndarray:
    """The constrained grid search on (N, C) ``y_true`` / ``y_score``; returns (C,) float64 thresholds.

    A ValueError when the shapes differ or there are no records.
    """
    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be the same (N, C) shape")
    if len(y_true) == 0:
        raise ValueError("no records to search thresholds on")
    metric = metric or ChallengeMetric(y_true)
    top = top_class_mask(y_score)
    thresholds = np.full(y_true.shape[1], global_threshold(y_true, y_score, metric))

    y_pred = apply_thresholds(y_score, thresholds)
    for _ in range(passes):
        for c in range(y_true.shape[1]):
            batch = np.repeat(y_pred[None], len(CLASS_GRID), axis=0)
            batch[:, :, c] = (y_score[None, :, c] >= CLASS_GRID[:, None]) | top[None, :, c]
            thresholds[c] = _pick(metric.score(batch), CLASS_GRID, thresholds[c])
            y_pred[:, c] = (y_score[:, c] >= thresholds[c]) | top[:, c]
    return thresholds
