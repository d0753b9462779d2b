"""The challenge metrics, vectorised, equal to the official scorers' values.

Every function takes arrays over N records and C classes (the classes of a
``classes.ClassSet`` in its order; where the weights and the normal class are not given,
the default set's, 2020's 24), named as in scikit-learn: ``y_true`` the labels
(bool (N, C)), ``y_pred`` the binary outputs (bool (N, C)) and ``y_score`` the
probabilities (float (N, C)). The definitions follow the official
``evaluate_12ECG_score.py`` of the 2020 challenge (Perez Alday et al., Physiol. Meas.
41(12):124003, 2020), edge cases included; the 2021 scorer (``evaluate_model.py``)
computes AUROC, AUPRC, accuracy, F-measure and the challenge metric the same way, and
drops the F-beta and G-beta measures:

* per-class values that are undefined (a zero denominator) are NaN, and the
  macro averages ignore them (NaN only when every class is undefined);
* AUROC and AUPRC are computed per class over the distinct probability values,
  AUROC as the trapezoid area under specificity against sensitivity, AUPRC as
  the step area under precision against recall (precision taken at the lower
  threshold of each step);
* the F-beta and G-beta measures weight each record by 1 / max(#labels, 1);
* the challenge metric gives each record's (true j, output k) pairs the weight
  W[j, k] / max(|labels ∪ outputs|, 1) and is normalised between the
  normal-class-only classifier (0) and the perfect one (1); it is 0 when those
  two score the same.

``ChallengeMetric`` precomputes everything that depends only on ``y_true`` so
that a threshold search can score a batch of candidate outputs in one call.
"""
from __future__ import annotations

import numpy as np

from ecgnet.challenge import classes

METRIC_NAMES: tuple[str, ...] = (
    "AUROC",
    "AUPRC",
    "Accuracy",
    "F-measure",
    "Fbeta-measure",
    "Gbeta-measure",
    "Challenge metric",
)


def _check_pair(y_true: np.ndarray, other: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as bool and ``other`` unchanged; ValueError unless both are the same non-empty (N, C) shape."""
    y_true = np.asarray(y_true)
    other = np.asarray(other)
    if y_true.ndim != 2:
        raise ValueError(f"y_true must be a 2-D (records, classes) array, got shape {y_true.shape}")
    if other.shape != y_true.shape:
        raise ValueError(f"{what} shape {other.shape} differs from y_true shape {y_true.shape}")
    if y_true.shape[0] == 0:
        raise ValueError("no records to score")
    return y_true.astype(bool, copy=False), other


def _nanmean(values: np.ndarray) -> float:
    """Mean over the defined (non-NaN) values; NaN, silently, when there are none."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0."""
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, record_weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per-class TP, FP, FN, TN, each record counting ``record_weights[i]`` (default 1)."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    y_pred = y_pred.astype(bool, copy=False)
    cells = (y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred, ~y_true & ~y_pred)
    if record_weights is None:
        return tuple(cell.sum(axis=0, dtype=np.float64) for cell in cells)
    return tuple(np.einsum("n,nc->c", record_weights, cell) for cell in cells)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of the N records whose whole output vector ``y_pred[i]`` (C,) equals ``y_true[i]``."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    return float(np.mean(np.all(y_true == y_pred.astype(bool, copy=False), axis=1)))


def f_measure(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro F1 = mean over classes of 2TP / (2TP + FP + FN), and the per-class values (C,) (NaN where undefined)."""
    tp, fp, fn, _ = _confusion(y_true, y_pred)
    per_class = _ratio(2 * tp, 2 * tp + fp + fn)
    return _nanmean(per_class), per_class


def beta_measures(y_true: np.ndarray, y_pred: np.ndarray, beta: float = 2) -> tuple[float, float]:
    """Macro F-beta and G-beta of (N, C) ``y_true`` / ``y_pred``, each record weighted by 1 / max(#labels, 1)."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    tp, fp, fn, _ = _confusion(y_true, y_pred, 1.0 / np.maximum(y_true.sum(axis=1), 1))
    b2 = beta**2
    f_beta = _ratio((1 + b2) * tp, (1 + b2) * tp + fp + b2 * fn)
    g_beta = _ratio(tp, tp + fp + beta * fn)
    return _nanmean(f_beta), _nanmean(g_beta)


def sensitivity_specificity(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (C,) TP/(TP+FN) and TN/(TN+FP) from plain counts; NaN where a class has no positives/negatives."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    return _ratio(tp, tp + fn), _ratio(tn, tn + fp)


def class_curve(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One class's operating points, the official way: (sensitivity, specificity, precision).

    ``y_true`` (N,) bool and ``y_score`` (N,) float are one class's column.

    The first point predicts nothing; then one point per distinct score, highest first.
    Sensitivity and specificity cover every point (NaN when the class has no positives,
    resp. negatives); precision covers the points past the first.
    """
    positives = float(y_true.sum())
    negatives = float(y_true.size - positives)
    order = np.argsort(-y_score)  # ties need no order: only the last of each run is used
    sorted_scores = y_score[order]
    tp = np.cumsum(y_true[order], dtype=np.float64)
    fp = np.arange(1, y_true.size + 1, dtype=np.float64) - tp
    # One operating point per distinct value: the last record of each run of ties.
    last = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    tp = np.concatenate(([0.0], tp[last]))
    fp = np.concatenate(([0.0], fp[last]))
    tpr = tp / positives if positives else np.full(tp.shape, np.nan)
    tnr = (negatives - fp) / negatives if negatives else np.full(fp.shape, np.nan)
    ppv = tp[1:] / (tp[1:] + fp[1:])  # every point past the first holds at least one record
    return tpr, tnr, ppv


def _class_auc(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one class's (N,) column, the official way (see the module docstring)."""
    tpr, tnr, ppv = class_curve(y_true, y_score)
    step = np.diff(tpr)
    auroc = float(np.sum(0.5 * step * (tnr[1:] + tnr[:-1])))
    auprc = float(np.sum(step * ppv))
    return auroc, auprc


def auroc_auprc(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and their per-class (C,) arrays, from (N, C) ``y_true`` and ``y_score``.

    A class without positives has NaN for both; one without negatives has a NaN
    AUROC. ``y_score`` must not hold NaN (the scorer reads a NaN as 0 first).
    """
    y_true, y_score = _check_pair(y_true, y_score, "y_score")
    y_score = np.asarray(y_score, dtype=np.float64)
    if np.isnan(y_score).any():
        raise ValueError("y_score (probabilities) contains NaN; replace it (the official scorer reads NaN as 0)")
    per_class = np.array([_class_auc(y_true[:, k], y_score[:, k]) for k in range(y_true.shape[1])])
    per_class = per_class.reshape(y_true.shape[1], 2)
    auroc, auprc = per_class[:, 0].copy(), per_class[:, 1].copy()
    return _nanmean(auroc), _nanmean(auprc), auroc, auprc


class ChallengeMetric:
    """The normalised challenge score for fixed labels ``y_true`` (N, C), fast for many candidate outputs.

    A record's raw score is (L_i W · O_i) / max(|L_i ∪ O_i|, 1). The perfect and
    normal-only totals depend only on ``y_true``: they are computed once, in the
    same pass as the first ``score`` call (or on first access), and reused, so each
    ``score`` call costs one pass over its outputs: O(K·N·C) for K candidates.

    A pass runs over blocks of records with small temporaries, and ``L W`` is
    recomputed per block rather than kept: a (N, C) float array per call costs more
    in page faults than the product itself, and per block it stays in cache. The
    product is a sum of table rows (the labels packed 8 classes to a byte, one
    256-row table of W row sums per byte) rather than a BLAS call, whose threads
    stall for milliseconds on a busy 2-core machine.

    ``weights`` is the C x C reward table (default: the 2020 ``weights.csv``) and
    ``normal_index`` the sinus-rhythm class of the normal-only reference (default:
    ``classes.NORMAL_INDEX``); both come from a ``classes.ClassSet``. A wrong shape of
    ``weights`` is a ValueError.
    """

    _ROWS = 2048  # records per block
    _CANDIDATES = 2  # candidates per block: 2 x 2048 x 24 doubles = 786 KB

    def __init__(self, y_true: np.ndarray, weights: np.ndarray | None = None, normal_index: int | None = None):
        y_true = np.asarray(y_true).astype(bool, copy=False)
        if y_true.ndim != 2 or y_true.shape[0] == 0:
            raise ValueError(f"y_true must be a non-empty (records, classes) array, got shape {y_true.shape}")
        weights = np.asarray(classes.load_weights() if weights is None else weights, dtype=np.float64)
        num_classes = y_true.shape[1]
        if weights.shape != (num_classes, num_classes):
            raise ValueError(f"weights shape {weights.shape} does not match {num_classes} classes")
        self.normal_index = classes.NORMAL_INDEX if normal_index is None else normal_index
        self.y_true = y_true
        self.shape = y_true.shape
        # _tables[g, v] = sum of the rows of W for the classes whose bits are set in value v of label byte g.
        num_bytes = -(-num_classes // 8)
        padded = np.zeros((num_bytes * 8, num_classes))
        padded[:num_classes] = weights
        bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)
        self._tables = np.einsum("vb,gbc->gvc", bits, padded.reshape(num_bytes, 8, num_classes))
        self._references: tuple[float, float] | None = None  # (perfect, normal-only) raw totals

    @property
    def true_score(self) -> float:
        """Raw score of the perfect outputs (``y_pred == y_true``)."""
        return self._reference_scores()[0]

    @property
    def inactive_score(self) -> float:
        """Raw score of the normal-class-only outputs."""
        return self._reference_scores()[1]

    def _reference_scores(self) -> tuple[float, float]:
        if self._references is None:
            self._pass(np.zeros((0, *self.shape), dtype=bool))
        assert self._references is not None
        return self._references

    def _pass(self, y_pred: np.ndarray) -> np.ndarray:
        """Raw scores of a (K, N, C) boolean batch; fills the reference totals on the way if needed."""
        scores = np.zeros(y_pred.shape[0])
        perfect = normal_only = 0.0
        for start in range(0, self.shape[0], self._ROWS):
            rows = slice(start, start + self._ROWS)
            y_true = self.y_true[rows]
            packed = np.packbits(y_true, axis=1, bitorder="little")
            label_weights = np.take(self._tables[0], packed[:, 0], axis=0)  # (rows, C): L W
            for byte in range(1, packed.shape[1]):
                label_weights += np.take(self._tables[byte], packed[:, byte], axis=0)
            as_float = y_true.astype(np.float64)
            num_labels = np.einsum("nc->n", as_float)
            if self._references is None:
                perfect += float(np.sum(np.einsum("nc,nc->n", as_float, label_weights) / np.maximum(num_labels, 1.0)))
                union = num_labels + 1.0 - as_float[:, self.normal_index]
                normal_only += float(np.sum(label_weights[:, self.normal_index] / union))
            not_labelled = 1.0 - as_float  # each output outside L_i adds one to |L_i ∪ O_i|
            for first in range(0, y_pred.shape[0], self._CANDIDATES):
                candidates = slice(first, first + self._CANDIDATES)
                block = y_pred[candidates, rows].astype(np.float64)
                reward = np.einsum("knc,nc->kn", block, label_weights)
                union = num_labels + np.einsum("knc,nc->kn", block, not_labelled)
                scores[candidates] += (reward / np.maximum(union, 1.0)).sum(axis=1)
        if self._references is None:
            self._references = (perfect, normal_only)
        return scores

    def score(self, y_pred: np.ndarray) -> float | np.ndarray:
        """Normalised score of (N, C) binary outputs ``y_pred`` (a float) or of a (K, N, C) batch (an array of K)."""
        y_pred = np.asarray(y_pred)
        single = y_pred.ndim == 2
        batch = y_pred[None] if single else y_pred
        if batch.ndim != 3 or batch.shape[1:] != self.shape:
            raise ValueError(f"y_pred shape {y_pred.shape} does not match y_true shape {self.shape} (or K x that)")
        raw = self._pass(batch.astype(bool, copy=False))
        perfect, normal_only = self._reference_scores()
        span = perfect - normal_only
        normalised = (raw - normal_only) / span if span != 0 else np.zeros_like(raw)
        return float(normalised[0]) if single else normalised


def challenge_metric(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None,
                     normal_index: int | None = None) -> float:
    """The normalised challenge score of (N, C) binary outputs ``y_pred`` (``ChallengeMetric``'s defaults: the 2020 set's)."""
    y_true, y_pred = _check_pair(y_true, y_pred, "y_pred")
    return float(ChallengeMetric(y_true, weights, normal_index).score(y_pred))


def compute_all(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, weights: np.ndarray | None = None,
                normal_index: int | None = None) -> dict[str, float]:
    """The seven values of the official scores file from (N, C) arrays, keyed by ``METRIC_NAMES`` in that order
    (the challenge metric with ``weights`` and ``normal_index``, as ``challenge_metric``)."""
    auroc, auprc, _, _ = auroc_auprc(y_true, y_score)
    f_beta, g_beta = beta_measures(y_true, y_pred)
    values = (
        auroc,
        auprc,
        accuracy(y_true, y_pred),
        f_measure(y_true, y_pred)[0],
        f_beta,
        g_beta,
        challenge_metric(y_true, y_pred, weights, normal_index),
    )
    return dict(zip(METRIC_NAMES, values))


def with_sensitivity_specificity(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, weights: np.ndarray | None = None,
                                 normal_index: int | None = None) -> dict[str, float]:
    """``compute_all`` (same arguments) plus the seed paper's sensitivity and specificity (macro over classes)."""
    values = compute_all(y_true, y_pred, y_score, weights, normal_index)
    sensitivity, specificity = sensitivity_specificity(y_true, y_pred)
    values["Sensitivity"] = _nanmean(sensitivity)
    values["Specificity"] = _nanmean(specificity)
    return values


def per_class(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class (C,) prevalence, sensitivity, specificity, F1, AUROC and AUPRC from (N, C) arrays (NaN where undefined)."""
    sensitivity, specificity = sensitivity_specificity(y_true, y_pred)
    _, f1 = f_measure(y_true, y_pred)
    _, _, auroc, auprc = auroc_auprc(y_true, y_score)
    prevalence = np.asarray(y_true, dtype=bool).mean(axis=0)
    return {"prevalence": prevalence, "sensitivity": sensitivity, "specificity": specificity, "F1": f1, "AUROC": auroc, "AUPRC": auprc}


def modified_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The challenge metric's modified confusion matrix A, (C, C) float: rows truth, columns outputs.

    ``y_true`` and ``y_pred`` are boolean (N, C). Each record adds 1 / max(|L_i ∪ O_i|, 1)
    to A[j, k] for every true class j and output class k of the record, so the raw
    challenge score is ``sum(A * W)`` (``compute_modified_confusion_matrix`` of the
    official 2020 ``evaluate_12ECG_score.py``). Raises ValueError on mismatched shapes.
    """
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    if y_true.ndim != 2 or y_pred.shape != y_true.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be the same (records, classes) shape")
    union = np.maximum((y_true | y_pred).sum(axis=1), 1).astype(np.float64)
    return (y_true / union[:, None]).T @ y_pred.astype(np.float64)
