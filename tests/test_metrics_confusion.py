"""The challenge metric's modified confusion matrix (``metrics.modified_confusion_matrix``)."""
from __future__ import annotations

import numpy as np
import pytest

import bench.reference_metric as ref
from ecgnet.challenge import classes, metrics


def test_a_record_spreads_one_over_its_union_of_true_and_output_classes():
    y_true = np.array([[1, 1, 0, 0]], dtype=bool)
    y_pred = np.array([[0, 1, 1, 0]], dtype=bool)
    expected = np.zeros((4, 4))
    expected[np.ix_([0, 1], [1, 2])] = 1.0 / 3.0  # |{0, 1} ∪ {1, 2}| = 3
    assert np.allclose(metrics.modified_confusion_matrix(y_true, y_pred), expected)


@pytest.mark.parametrize("seed", range(5))
def test_equals_the_reference_loop_and_gives_the_challenge_score(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.random((60, classes.NUM_CLASSES)) < 0.1
    y_pred = rng.random((60, classes.NUM_CLASSES)) < 0.15
    y_pred[:3] = False  # records without outputs are normalised by 1, not 0
    matrix = metrics.modified_confusion_matrix(y_true, y_pred)
    assert np.allclose(matrix, ref.modified_confusion_matrix(y_true, y_pred), atol=1e-12)

    weights = classes.load_weights()
    normal_only = np.zeros_like(y_true)
    normal_only[:, classes.NORMAL_INDEX] = True
    raw = {name: np.sum(metrics.modified_confusion_matrix(y_true, outputs) * weights)
           for name, outputs in (("outputs", y_pred), ("perfect", y_true), ("normal", normal_only))}
    normalised = (raw["outputs"] - raw["normal"]) / (raw["perfect"] - raw["normal"])
    assert normalised == pytest.approx(metrics.challenge_metric(y_true, y_pred), abs=1e-12)


def test_mismatched_shapes_are_a_clear_error():
    with pytest.raises(ValueError, match="same"):
        metrics.modified_confusion_matrix(np.zeros((3, 24), bool), np.zeros((3, 23), bool))
