"""ecgnet.metrics against a plain-loop transcription of the 2020 definitions.

The reference functions below restate each definition record by record and class
by class, with no vectorisation, so a slip in the vectorised code shows up as a
disagreement on random inputs (hypothesis) rather than hiding in shared code.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgnet import classes, metrics

C = classes.NUM_CLASSES
NORMAL = classes.NORMAL_INDEX
W = classes.load_weights()


# ---- plain-loop reference ---------------------------------------------------------------

def ref_nanmean(values):
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def ref_counts(labels, outputs, weight_of_record=lambda i: 1.0):
    n, c = len(labels), len(labels[0])
    tp, fp, fn, tn = ([0.0] * c for _ in range(4))
    for i in range(n):
        w = weight_of_record(i)
        for j in range(c):
            if labels[i][j] and outputs[i][j]:
                tp[j] += w
            elif outputs[i][j]:
                fp[j] += w
            elif labels[i][j]:
                fn[j] += w
            else:
                tn[j] += w
    return tp, fp, fn, tn


def ref_accuracy(labels, outputs):
    return sum(all(bool(a) == bool(b) for a, b in zip(l, o)) for l, o in zip(labels, outputs)) / len(labels)


def ref_f_measure(labels, outputs):
    tp, fp, fn, _ = ref_counts(labels, outputs)
    per = [2 * tp[j] / (2 * tp[j] + fp[j] + fn[j]) if 2 * tp[j] + fp[j] + fn[j] else math.nan for j in range(len(tp))]
    return ref_nanmean(per), per


def ref_beta(labels, outputs, beta=2):
    tp, fp, fn, _ = ref_counts(labels, outputs, lambda i: 1.0 / max(sum(labels[i]), 1))
    f, g = [], []
    for j in range(len(tp)):
        den_f = (1 + beta**2) * tp[j] + fp[j] + beta**2 * fn[j]
        den_g = tp[j] + fp[j] + beta * fn[j]
        f.append((1 + beta**2) * tp[j] / den_f if den_f else math.nan)
        g.append(tp[j] / den_g if den_g else math.nan)
    return ref_nanmean(f), ref_nanmean(g)


def ref_auc(labels, probabilities):
    n, c = len(labels), len(labels[0])
    aurocs, auprcs = [], []
    for k in range(c):
        column = [probabilities[i][k] for i in range(n)]
        positives = sum(1 for i in range(n) if labels[i][k])
        negatives = n - positives
        # Operating points: nothing predicted, then each distinct value from the highest down.
        points = [(0, 0)]
        for t in sorted(set(column), reverse=True):
            tp = sum(1 for i in range(n) if column[i] >= t and labels[i][k])
            fp = sum(1 for i in range(n) if column[i] >= t and not labels[i][k])
            points.append((tp, fp))
        tpr = [tp / positives if positives else math.nan for tp, _ in points]
        tnr = [(negatives - fp) / negatives if negatives else math.nan for _, fp in points]
        ppv = [tp / (tp + fp) if tp + fp else math.nan for tp, fp in points]
        auroc = auprc = 0.0
        for j in range(len(points) - 1):
            auroc += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
        aurocs.append(auroc)
        auprcs.append(auprc)
    return ref_nanmean(aurocs), ref_nanmean(auprcs), aurocs, auprcs


def ref_raw_challenge(labels, outputs, weights):
    total = 0.0
    for l, o in zip(labels, outputs):
        union = sum(1 for a, b in zip(l, o) if a or b)
        for j in range(len(l)):
            for k in range(len(o)):
                if l[j] and o[k]:
                    total += weights[j][k] / max(union, 1)
    return total


def ref_challenge(labels, outputs, weights=W):
    inactive = [[k == NORMAL for k in range(len(labels[0]))] for _ in labels]
    observed = ref_raw_challenge(labels, outputs, weights)
    perfect = ref_raw_challenge(labels, labels, weights)
    baseline = ref_raw_challenge(labels, inactive, weights)
    return (observed - baseline) / (perfect - baseline) if perfect != baseline else 0.0


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
    assert metrics.accuracy(labels, outputs) == pytest.approx(ref_accuracy(labels.tolist(), outputs.tolist()), abs=1e-12)
    macro, per_class = metrics.f_measure(labels, outputs)
    ref_macro, ref_per = ref_f_measure(labels.tolist(), outputs.tolist())
    assert close(macro, ref_macro) and close(per_class, ref_per)
    assert close(metrics.beta_measures(labels, outputs), ref_beta(labels.tolist(), outputs.tolist()))


@PROPERTY
@given(scoring_arrays())
def test_auroc_auprc_equal_the_loop_definitions(arrays):
    labels, _, probabilities = arrays
    got = metrics.auroc_auprc(labels, probabilities)
    want = ref_auc(labels.tolist(), probabilities.tolist())
    for g, w in zip(got, want):
        assert close(g, w)


@PROPERTY
@given(scoring_arrays())
def test_challenge_metric_equals_the_loop_definition(arrays):
    labels, outputs, _ = arrays
    assert close(metrics.challenge_metric(labels, outputs), ref_challenge(labels.tolist(), outputs.tolist()))


@PROPERTY
@given(scoring_arrays(max_records=12), st.integers(0, 2**32 - 1))
def test_challenge_metric_with_custom_weights(arrays, seed):
    labels, outputs, _ = arrays
    weights = np.random.default_rng(seed).random((C, C))
    assert close(metrics.challenge_metric(labels, outputs, weights), ref_challenge(labels.tolist(), outputs.tolist(), weights.tolist()))


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
    auroc, auprc, _, _ = ref_auc(labels.tolist(), probabilities.tolist())
    expected = (auroc, auprc, ref_accuracy(labels.tolist(), outputs.tolist()), ref_f_measure(labels.tolist(), outputs.tolist())[0],
                *ref_beta(labels.tolist(), outputs.tolist()), ref_challenge(labels.tolist(), outputs.tolist()))
    assert close(list(values.values()), expected)


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
