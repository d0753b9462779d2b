"""The constrained threshold search on data whose best thresholds are known."""
from __future__ import annotations

import numpy as np
import pytest

from ecgnet.challenge.classes import NORMAL_INDEX, NUM_CLASSES
from ecgnet.challenge.metrics import ChallengeMetric, challenge_metric
from ecgnet.challenge.thresholds import CLASS_GRID, apply_thresholds, search_thresholds


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random((n, NUM_CLASSES)) < 0.15
    labels[~labels.any(axis=1), NORMAL_INDEX] = True
    return labels, rng.random((n, NUM_CLASSES))


def test_separable_classes_get_a_threshold_between_the_two_groups():
    labels, _ = _data()
    # Positives at 0.62-0.9, negatives at 0.05-0.33: any threshold in (0.33, 0.62] is perfect.
    rng = np.random.default_rng(1)
    probabilities = np.where(labels, rng.uniform(0.62, 0.9, labels.shape), rng.uniform(0.05, 0.33, labels.shape))
    thresholds = search_thresholds(labels, probabilities)
    assert np.all((thresholds > 0.33) & (thresholds <= 0.62))
    assert challenge_metric(labels, apply_thresholds(probabilities, thresholds)) == pytest.approx(1.0)


def test_each_class_threshold_is_the_best_on_its_grid_given_the_others():
    labels, probabilities = _data(seed=2)
    probabilities = np.clip(probabilities * 0.6 + labels * 0.3, 0, 1)
    thresholds = search_thresholds(labels, probabilities)
    metric = ChallengeMetric(labels)
    best = metric.score(apply_thresholds(probabilities, thresholds))
    # The last class searched is at a coordinate-wise optimum: no grid value beats it (brute force).
    c = NUM_CLASSES - 1
    for value in CLASS_GRID:
        trial = thresholds.copy()
        trial[c] = value
        assert metric.score(apply_thresholds(probabilities, trial)) <= best + 1e-12
    # The search never ends below the best single global threshold.
    for value in np.linspace(0, 1, 11):
        assert metric.score(apply_thresholds(probabilities, value)) <= best + 1e-12


def test_more_passes_never_lower_the_score_and_results_are_deterministic():
    labels, probabilities = _data(seed=3)
    probabilities = np.clip(probabilities * 0.7 + labels * 0.2, 0, 1)
    one = search_thresholds(labels, probabilities, passes=1)
    two = search_thresholds(labels, probabilities, passes=2)
    score = lambda t: challenge_metric(labels, apply_thresholds(probabilities, t))  # noqa: E731
    assert score(two) >= score(one) - 1e-12
    np.testing.assert_array_equal(one, search_thresholds(labels, probabilities, passes=1))
    assert np.isin(one, CLASS_GRID).all() and np.isin(two, CLASS_GRID).all()  # grid values exactly, 0.00 to 1.00


def test_labels_always_include_the_top_class():
    probabilities = np.full((3, NUM_CLASSES), 0.1)
    probabilities[0, 5] = 0.4
    probabilities[1, 7] = 0.9
    out = apply_thresholds(probabilities, 0.5)
    assert out[0].tolist() == [i == 5 for i in range(NUM_CLASSES)]
    assert out[1].sum() == 1 and out[1, 7] and out[2].sum() == 1


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="same"):
        search_thresholds(np.zeros((4, 24), bool), np.zeros((4, 23)))
