"""The 2020 challenge metrics as plain loops: the reference ecgnet.challenge.metrics is checked against.

Each function restates one definition of the official 2020 ``evaluate_12ECG_score.py``
(Perez Alday et al., Physiol. Meas. 41(12):124003, 2020) record by record and class by
class, on Python lists, sharing no code with ``ecgnet.challenge.metrics``: a slip in the vectorised
code shows up as a disagreement instead of hiding in shared code. Its one home: the unit
tests (``tests/test_metrics.py``, ``tests/test_metrics_confusion.py``) check against it and
``bench/bench_scorer.py`` times the vectorised code against it.

Arguments are (N, C) nested sequences or arrays: ``y_true`` the labels and ``y_pred`` the
binary outputs (truthy / falsy), ``y_score`` the probabilities (floats). Undefined values
(a zero denominator) are NaN and the macro averages skip them. The AUCs walk the distinct
probability values from the highest down, once over the sorted records, as the official
scorer does, so the bench can run the reference on all 16,630 records of 2020.
"""
from __future__ import annotations

import math

from ecgnet.challenge import classes
from ecgnet.challenge.metrics import METRIC_NAMES


def _rows(array) -> list[list]:
    """An (N, C) array or nested sequence as a list of N lists."""
    return array.tolist() if hasattr(array, "tolist") else [list(row) for row in array]


def nanmean(values) -> float:
    """Mean of the values that are not NaN; NaN when there are none."""
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def counts(y_true, y_pred, record_weight=None) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per-class TP, FP, FN, TN (C lists), record i counting ``record_weight(i)`` (default 1)."""
    y_true, y_pred = _rows(y_true), _rows(y_pred)
    c = len(y_true[0])
    tp, fp, fn, tn = ([0.0] * c for _ in range(4))
    for i, (labels, outputs) in enumerate(zip(y_true, y_pred)):
        w = 1.0 if record_weight is None else record_weight(i)
        for j in range(c):
            if labels[j] and outputs[j]:
                tp[j] += w
            elif outputs[j]:
                fp[j] += w
            elif labels[j]:
                fn[j] += w
            else:
                tn[j] += w
    return tp, fp, fn, tn


def accuracy(y_true, y_pred) -> float:
    """Fraction of records whose every class output equals its label."""
    y_true, y_pred = _rows(y_true), _rows(y_pred)
    exact = sum(all(bool(a) == bool(b) for a, b in zip(labels, outputs)) for labels, outputs in zip(y_true, y_pred))
    return exact / len(y_true)


def f_measure(y_true, y_pred) -> tuple[float, list[float]]:
    """Macro F1 and the C per-class values 2TP / (2TP + FP + FN)."""
    tp, fp, fn, _ = counts(y_true, y_pred)
    per_class = [2 * tp[j] / (2 * tp[j] + fp[j] + fn[j]) if 2 * tp[j] + fp[j] + fn[j] else math.nan for j in range(len(tp))]
    return nanmean(per_class), per_class


def beta_measures(y_true, y_pred, beta: float = 2) -> tuple[float, float]:
    """Macro F-beta and G-beta, each record weighted by 1 / max(number of its labels, 1)."""
    y_true = _rows(y_true)
    tp, fp, fn, _ = counts(y_true, y_pred, lambda i: 1.0 / max(sum(bool(v) for v in y_true[i]), 1))
    f_beta, g_beta = [], []
    for j in range(len(tp)):
        den_f = (1 + beta**2) * tp[j] + fp[j] + beta**2 * fn[j]
        den_g = tp[j] + fp[j] + beta * fn[j]
        f_beta.append((1 + beta**2) * tp[j] / den_f if den_f else math.nan)
        g_beta.append(tp[j] / den_g if den_g else math.nan)
    return nanmean(f_beta), nanmean(g_beta)


def _class_auc(labels: list, scores: list) -> tuple[float, float]:
    """One class: AUROC (trapezoids of specificity over sensitivity), AUPRC (steps of precision)."""
    n = len(labels)
    positives = sum(1 for v in labels if v)
    negatives = n - positives
    order = sorted(range(n), key=lambda i: scores[i], reverse=True)
    tpr = [0.0 if positives else math.nan]  # the first point predicts nothing
    tnr = [1.0 if negatives else math.nan]
    ppv = [math.nan]
    tp = fp = i = 0
    for t in sorted(set(scores), reverse=True):  # one operating point per distinct value
        while i < n and scores[order[i]] >= t:
            tp, fp = (tp + 1, fp) if labels[order[i]] else (tp, fp + 1)
            i += 1
        tpr.append(tp / positives if positives else math.nan)
        tnr.append((negatives - fp) / negatives if negatives else math.nan)
        ppv.append(tp / (tp + fp))
    auroc = auprc = 0.0
    for j in range(len(tpr) - 1):
        auroc += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
        auprc += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
    return auroc, auprc


def auroc_auprc(y_true, y_score) -> tuple[float, float, list[float], list[float]]:
    """Macro AUROC, macro AUPRC and their C per-class values."""
    y_true, y_score = _rows(y_true), _rows(y_score)
    per_class = [_class_auc([row[k] for row in y_true], [row[k] for row in y_score]) for k in range(len(y_true[0]))]
    aurocs, auprcs = [a for a, _ in per_class], [p for _, p in per_class]
    return nanmean(aurocs), nanmean(auprcs), aurocs, auprcs


def modified_confusion_matrix(y_true, y_pred) -> list[list[float]]:
    """C x C lists A: each record adds 1 / max(|labels ∪ outputs|, 1) to A[j][k] for each of its labels j and outputs k
    (the official ``compute_modified_confusion_matrix``)."""
    y_true, y_pred = _rows(y_true), _rows(y_pred)
    c = len(y_true[0])
    matrix = [[0.0] * c for _ in range(c)]
    for labels, outputs in zip(y_true, y_pred):
        union = max(sum(1 for a, b in zip(labels, outputs) if a or b), 1)
        for j in range(c):
            if labels[j]:
                for k in range(c):
                    if outputs[k]:
                        matrix[j][k] += 1.0 / union
    return matrix


def _raw_challenge(y_true: list, y_pred: list, weights: list) -> float:
    """Sum over records of W[j][k] / max(|labels ∪ outputs|, 1) for each label j and output k."""
    total = 0.0
    for labels, outputs in zip(y_true, y_pred):
        union = max(sum(1 for a, b in zip(labels, outputs) if a or b), 1)
        for j in range(len(labels)):
            if labels[j]:
                for k in range(len(outputs)):
                    if outputs[k]:
                        total += weights[j][k] / union
    return total


def challenge_metric(y_true, y_pred, weights=None, normal_index: int = classes.NORMAL_INDEX) -> float:
    """The raw score normalised so normal-class-only outputs score 0 and perfect ones 1 (0 when they tie)."""
    y_true, y_pred = _rows(y_true), _rows(y_pred)
    weights = _rows(classes.load_weights() if weights is None else weights)
    normal_only = [[k == normal_index for k in range(len(y_true[0]))] for _ in y_true]
    observed = _raw_challenge(y_true, y_pred, weights)
    perfect = _raw_challenge(y_true, y_true, weights)
    baseline = _raw_challenge(y_true, normal_only, weights)
    return (observed - baseline) / (perfect - baseline) if perfect != baseline else 0.0


def compute_all(y_true, y_pred, y_score, weights=None) -> dict[str, float]:
    """The seven values of the official scores file, keyed by ``METRIC_NAMES`` in that order."""
    auroc, auprc, _, _ = auroc_auprc(y_true, y_score)
    values = (auroc, auprc, accuracy(y_true, y_pred), f_measure(y_true, y_pred)[0],
              *beta_measures(y_true, y_pred), challenge_metric(y_true, y_pred, weights))
    return dict(zip(METRIC_NAMES, values))
