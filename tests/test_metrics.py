"""ecgnet.challenge.metrics against a plain-loop transcription of the 2020 definitions.

The reference (bench/reference_metric.py, shared with bench/bench_scorer.py) restates
each definition record by record and class by class, with no vectorisation, so a slip
in the vectorised code shows up as a disagreement on random inputs (hypothesis) rather
than hiding in shared code.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bench.reference_metric as ref
from ecgnet.challenge import classes, metrics

C = classes.NUM_CLASSES
NORMAL = classes.NORMAL_INDEX
W = classes.load_weights()


# ---- helpers ----------------------------------------------------------------------------

def close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.where(np.isnan(a) | np.isnan(b), np.isnan(a) & np.isnan(b), np.abs(a - b) <= tol)))


@st.composite
def scoring_arrays(draw, max_records=25):
    """Labels, outputs and tied-heavy probabilities, with rows often empty or normal-only."""
    n = draw(st.integers(1, max_records))
    density = draw(st.sampled_from([0.02, 0.1, 0.3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.random((n, C)) < density
    if draw(st.booleans()):
        labels[rng.random(n) < 0.3] = False
        labels[rng.random(n) < 0.3, NORMAL] = True
    outputs = rng.random((n, C)) < draw(st.sampled_from([0.0, 0.05, 0.2, 0.6]))
    levels = draw(st.sampled_from([2, 5, 1000]))
    probabilities = rng.integers(0, levels, (n, C)) / (levels - 1)
    return labels, outputs, probabilities


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- properties: vectorised == loop -----------------------------------------------------

@PROPERTY
@given(scoring_arrays())
def test_confusion_based_metrics_equal_the_loop_definitions(arrays):
    labels, outputs, _ = arrays
    assert metrics.accuracy(labels, outputs) == pytest.approx(ref.accuracy(labels, outputs), abs=1e-12)
    macro, per_class = metrics.f_measure(labels, outputs)
    ref_macro, ref_per = ref.f_measure(labels, outputs)
    assert close(macro, ref_macro) and close(per_class, ref_per)
    assert close(metrics.beta_measures(labels, outputs), ref.beta_measures(labels, outputs))


@PROPERTY
@given(scoring_arrays())
def test_auroc_auprc_equal_the_loop_definitions(arrays):
    labels, _, probabilities = arrays
    got = metrics.auroc_auprc(labels, probabilities)
    want = ref.auroc_auprc(labels, probabilities)
    for g, w in zip(got, want):
        assert close(g, w)


@PROPERTY
@given(scoring_arrays())
def test_challenge_metric_equals_the_loop_definition(arrays):
    labels, outputs, _ = arrays
    assert close(metrics.challenge_metric(labels, outputs), ref.challenge_metric(labels, outputs))


@PROPERTY
@given(scoring_arrays(max_records=12), st.integers(0, 2**32 - 1))
def test_challenge_metric_with_custom_weights(arrays, seed):
    labels, outputs, _ = arrays
    weights = np.random.default_rng(seed).random((C, C))
    # Relative tolerance: with random weights the perfect and normal-only raw scores can nearly cancel, and the
    # normalised score (-168 in one case) carries their rounding, a few 1e-12 in absolute terms, into its last digits.
    expected = ref.challenge_metric(labels, outputs, weights)
    assert metrics.challenge_metric(labels, outputs, weights) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@PROPERTY
@given(scoring_arrays(), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_batch_score_equals_one_call_per_candidate(arrays, k, seed):
    labels, _, probabilities = arrays
    thresholds = np.random.default_rng(seed).random((k, 1, C))
    batch = probabilities[None] >= thresholds
    scores = metrics.ChallengeMetric(labels).score(batch)
    assert scores.shape == (k,)
    assert close(scores, [metrics.challenge_metric(labels, candidate) for candidate in batch])


@PROPERTY
@given(scoring_arrays())
def test_compute_all_is_the_seven_metrics_in_file_order(arrays):
    labels, outputs, probabilities = arrays
    values = metrics.compute_all(labels, outputs, probabilities)
    assert tuple(values) == metrics.METRIC_NAMES
    expected = ref.compute_all(labels, outputs, probabilities)
    assert tuple(expected) == metrics.METRIC_NAMES
    assert close(list(values.values()), list(expected.values()))


# ---- anchors and edge cases -------------------------------------------------------------

def _labels(n=40, seed=0):
    labels = np.random.default_rng(seed).random((n, C)) < 0.1
    labels[~labels.any(axis=1), NORMAL] = True
    return labels


def test_perfect_outputs_score_one_and_normal_only_scores_zero():
    labels = _labels()
    normal_only = np.zeros_like(labels)
    normal_only[:, NORMAL] = True
    metric = metrics.ChallengeMetric(labels)
    reference_first = metrics.ChallengeMetric(labels)
    assert (reference_first.true_score, reference_first.inactive_score) != (0.0, 0.0)
    assert metric.score(labels) == pytest.approx(1.0, abs=1e-12)
    assert (metric.true_score, metric.inactive_score) == (reference_first.true_score, reference_first.inactive_score)
    assert metric.score(normal_only) == pytest.approx(0.0, abs=1e-12)
    assert metric.score(np.stack([labels, normal_only])) == pytest.approx([1.0, 0.0], abs=1e-12)


def test_challenge_metric_is_zero_when_perfect_equals_normal_only():
    labels = np.zeros((5, C), dtype=bool)
    labels[:, NORMAL] = True
    assert metrics.challenge_metric(labels, ~labels) == 0.0


def test_empty_output_rows_are_normalised_by_at_least_one():
    labels = np.zeros((2, C), dtype=bool)  # a record with no scored label and no output scores 0
    labels[0, 0] = True
    outputs = labels.copy()
    assert metrics.ChallengeMetric(labels).score(outputs) == pytest.approx(1.0)


def test_undefined_classes_are_nan_and_skipped_by_the_macro_average():
    labels = np.zeros((4, C), dtype=bool)
    labels[:2, 0] = True  # class 0 has positives and negatives; class 1 only positives; the rest none
    labels[:, 1] = True
    probabilities = np.zeros((4, C))
    probabilities[:, 0] = [0.9, 0.8, 0.1, 0.8]
    auroc, auprc, per_auroc, per_auprc = metrics.auroc_auprc(labels, probabilities)
    assert per_auroc[0] == pytest.approx(0.875) and per_auprc[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert np.isnan(per_auroc[1]) and per_auprc[1] == 1.0
    assert np.all(np.isnan(per_auroc[2:])) and np.all(np.isnan(per_auprc[2:]))
    assert auroc == pytest.approx(0.875)
    no_positives = np.zeros((3, C), dtype=bool)
    assert np.isnan(metrics.auroc_auprc(no_positives, np.zeros((3, C)))[0])
    assert np.isnan(metrics.f_measure(no_positives, no_positives)[0])


def test_sensitivity_specificity_from_counts():
    labels = np.zeros((4, C), dtype=bool)
    outputs = np.zeros((4, C), dtype=bool)
    labels[:2, 0] = True
    outputs[[0, 2], 0] = True
    sensitivity, specificity = metrics.sensitivity_specificity(labels, outputs)
    assert sensitivity[0] == 0.5 and specificity[0] == 0.5
    assert np.isnan(sensitivity[1]) and specificity[1] == 1.0


def test_infinite_probabilities_follow_the_official_thresholds():
    labels = np.zeros((3, C), dtype=bool)
    labels[0, 0] = True
    probabilities = np.zeros((3, C))
    probabilities[:, 0] = [np.inf, 0.5, -np.inf]
    assert metrics.auroc_auprc(labels, probabilities)[2][0] == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.accuracy(np.zeros((2, C), bool), np.zeros((3, C), bool)),
        lambda: metrics.challenge_metric(np.zeros((0, C), bool), np.zeros((0, C), bool)),
        lambda: metrics.auroc_auprc(np.zeros((2, C), bool), np.full((2, C), np.nan)),
        lambda: metrics.ChallengeMetric(np.zeros((2, C), bool)).score(np.zeros((2, 3, C), bool)),
        lambda: metrics.ChallengeMetric(np.zeros((2, 5), bool)),
    ],
)
def test_bad_shapes_and_nan_probabilities_are_clear_errors(call):
    with pytest.raises(ValueError):
        call()


def test_many_blocks_and_candidates_match_the_direct_formula():
    rng = np.random.default_rng(3)
    n = 5000  # several blocks of records, with a partial last block
    labels = rng.random((n, C)) < 0.08
    batch = rng.random((5, n, C)) < 0.1
    raw = lambda outputs: np.sum(np.einsum("nj,jk,nk->n", labels, W, outputs) / np.maximum((labels | outputs).sum(axis=1), 1))
    normal_only = np.zeros_like(labels)
    normal_only[:, NORMAL] = True
    baseline, perfect = raw(normal_only), raw(labels)
    expected = [(raw(outputs) - baseline) / (perfect - baseline) for outputs in batch]
    assert close(metrics.ChallengeMetric(labels).score(batch), expected, tol=1e-12)
