"""The 2020 challenge metrics, vectorised, equal to the official scorer's values.

Every function takes arrays over N records and C classes (the 24 scored classes of
``classes.py`` in their order): ``labels`` and ``outputs`` boolean (N, C),
``probabilities`` float (N, C). The definitions follow the official
``evaluate_12ECG_score.py`` of the 2020 challenge, edge cases included:

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

``ChallengeMetric`` precomputes everything that depends only on the labels so
that a threshold search can score a batch of candidate outputs in one call.
"""
from __future__ import annotations

import numpy as np

from . import classes

METRIC_NAMES: tuple[str, ...] = (
    "AUROC",
    "AUPRC",
    "Accuracy",
    "F-measure",
    "Fbeta-measure",
    "Gbeta-measure",
    "Challenge metric",
)


def _check_pair(labels: np.ndarray, other: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    other = np.asarray(other)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (records, classes) array, got shape {labels.shape}")
    if other.shape != labels.shape:
        raise ValueError(f"{what} shape {other.shape} differs from labels shape {labels.shape}")
    if labels.shape[0] == 0:
        raise ValueError("no records to score")
    return labels.astype(bool, copy=False), other


def _nanmean(values: np.ndarray) -> float:
    """Mean over the defined (non-NaN) values; NaN, silently, when there are none."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0."""
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _confusion(labels: np.ndarray, outputs: np.ndarray, record_weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per-class TP, FP, FN, TN, each record counting ``record_weights[i]`` (default 1)."""
    labels, outputs = _check_pair(labels, outputs, "outputs")
    outputs = outputs.astype(bool, copy=False)
    cells = (labels & outputs, ~labels & outputs, labels & ~outputs, ~labels & ~outputs)
    if record_weights is None:
        return tuple(cell.sum(axis=0, dtype=np.float64) for cell in cells)
    return tuple(np.einsum("n,nc->c", record_weights, cell) for cell in cells)


def accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction of records whose whole output vector equals the label vector."""
    labels, outputs = _check_pair(labels, outputs, "outputs")
    return float(np.mean(np.all(labels == outputs.astype(bool, copy=False), axis=1)))


def f_measure(labels: np.ndarray, outputs: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro F1 = mean over classes of 2TP / (2TP + FP + FN), and the per-class values."""
    tp, fp, fn, _ = _confusion(labels, outputs)
    per_class = _ratio(2 * tp, 2 * tp + fp + fn)
    return _nanmean(per_class), per_class


def beta_measures(labels: np.ndarray, outputs: np.ndarray, beta: float = 2) -> tuple[float, float]:
    """Macro F-beta and G-beta with each record weighted by 1 / max(#labels, 1)."""
    labels, outputs = _check_pair(labels, outputs, "outputs")
    tp, fp, fn, _ = _confusion(labels, outputs, 1.0 / np.maximum(labels.sum(axis=1), 1))
    b2 = beta**2
    f_beta = _ratio((1 + b2) * tp, (1 + b2) * tp + fp + b2 * fn)
    g_beta = _ratio(tp, tp + fp + beta * fn)
    return _nanmean(f_beta), _nanmean(g_beta)


def sensitivity_specificity(labels: np.ndarray, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class TP/(TP+FN) and TN/(TN+FP) from plain counts; NaN where a class has no positives/negatives."""
    tp, fp, fn, tn = _confusion(labels, outputs)
    return _ratio(tp, tp + fn), _ratio(tn, tn + fp)


def class_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One class's operating points, the official way: (sensitivity, specificity, precision).

    The first point predicts nothing; then one point per distinct score, highest first.
    Sensitivity and specificity cover every point (NaN when the class has no positives,
    resp. negatives); precision covers the points past the first.
    """
    positives = float(labels.sum())
    negatives = float(labels.size - positives)
    order = np.argsort(-scores)  # ties need no order: only the last of each run is used
    sorted_scores = scores[order]
    tp = np.cumsum(labels[order], dtype=np.float64)
    fp = np.arange(1, labels.size + 1, dtype=np.float64) - tp
    # One operating point per distinct value: the last record of each run of ties.
    last = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    tp = np.concatenate(([0.0], tp[last]))
    fp = np.concatenate(([0.0], fp[last]))
    tpr = tp / positives if positives else np.full(tp.shape, np.nan)
    tnr = (negatives - fp) / negatives if negatives else np.full(fp.shape, np.nan)
    ppv = tp[1:] / (tp[1:] + fp[1:])  # every point past the first holds at least one record
    return tpr, tnr, ppv


def _class_auc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one class, the official way (see the module docstring)."""
    tpr, tnr, ppv = class_curve(labels, scores)
    step = np.diff(tpr)
    auroc = float(np.sum(0.5 * step * (tnr[1:] + tnr[:-1])))
    auprc = float(np.sum(step * ppv))
    return auroc, auprc


def auroc_auprc(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and their per-class arrays.

    A class without positives has NaN for both; one without negatives has a NaN
    AUROC. Probabilities must not hold NaN (the scorer reads a NaN as 0 first).
    """
    labels, probabilities = _check_pair(labels, probabilities, "probabilities")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if np.isnan(probabilities).any():
        raise ValueError("probabilities contain NaN; replace them (the official scorer reads NaN as 0)")
    per_class = np.array([_class_auc(labels[:, k], probabilities[:, k]) for k in range(labels.shape[1])])
    per_class = per_class.reshape(labels.shape[1], 2)
    auroc, auprc = per_class[:, 0].copy(), per_class[:, 1].copy()
    return _nanmean(auroc), _nanmean(auprc), auroc, auprc


class ChallengeMetric:
    """The normalised challenge score for fixed labels, fast for many candidate outputs.

    A record's raw score is (L_i W · O_i) / max(|L_i ∪ O_i|, 1). The perfect and
    normal-only totals depend only on the labels: they are computed once, in the
    same pass as the first ``score`` call (or on first access), and reused, so each
    ``score`` call costs one pass over its outputs: O(K·N·C) for K candidates.

    A pass runs over blocks of records with small temporaries, and ``L W`` is
    recomputed per block rather than kept: a (N, C) float array per call costs more
    in page faults than the product itself, and per block it stays in cache. The
    product is a sum of table rows (the labels packed 8 classes to a byte, one
    256-row table of W row sums per byte) rather than a BLAS call, whose threads
    stall for milliseconds on a busy 2-core machine.
    """

    _ROWS = 2048  # records per block
    _CANDIDATES = 2  # candidates per block: 2 x 2048 x 24 doubles = 786 KB

    def __init__(self, labels: np.ndarray, weights: np.ndarray | None = None, normal_index: int | None = None):
        labels = np.asarray(labels).astype(bool, copy=False)
        if labels.ndim != 2 or labels.shape[0] == 0:
            raise ValueError(f"labels must be a non-empty (records, classes) array, got shape {labels.shape}")
        weights = np.asarray(classes.load_weights() if weights is None else weights, dtype=np.float64)
        num_classes = labels.shape[1]
        if weights.shape != (num_classes, num_classes):
            raise ValueError(f"weights shape {weights.shape} does not match {num_classes} classes")
        self.normal_index = classes.NORMAL_INDEX if normal_index is None else normal_index
        self.labels = labels
        self.shape = labels.shape
        # _tables[g, v] = sum of the rows of W for the classes whose bits are set in value v of label byte g.
        num_bytes = -(-num_classes // 8)
        padded = np.zeros((num_bytes * 8, num_classes))
        padded[:num_classes] = weights
        bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)
        self._tables = np.einsum("vb,gbc->gvc", bits, padded.reshape(num_bytes, 8, num_classes))
        self._references: tuple[float, float] | None = None  # (perfect, normal-only) raw totals

    @property
    def true_score(self) -> float:
        """Raw score of the perfect outputs (outputs = labels)."""
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

    def _pass(self, outputs: np.ndarray) -> np.ndarray:
        """Raw scores of a (K, N, C) boolean batch; fills the reference totals on the way if needed."""
        scores = np.zeros(outputs.shape[0])
        perfect = normal_only = 0.0
        for start in range(0, self.shape[0], self._ROWS):
            rows = slice(start, start + self._ROWS)
            labels = self.labels[rows]
            packed = np.packbits(labels, axis=1, bitorder="little")
            label_weights = np.take(self._tables[0], packed[:, 0], axis=0)  # (rows, C): L W
            for byte in range(1, packed.shape[1]):
                label_weights += np.take(self._tables[byte], packed[:, byte], axis=0)
            as_float = labels.astype(np.float64)
            num_labels = np.einsum("nc->n", as_float)
            if self._references is None:
                perfect += float(np.sum(np.einsum("nc,nc->n", as_float, label_weights) / np.maximum(num_labels, 1.0)))
                union = num_labels + 1.0 - as_float[:, self.normal_index]
                normal_only += float(np.sum(label_weights[:, self.normal_index] / union))
            not_labelled = 1.0 - as_float  # each output outside L_i adds one to |L_i ∪ O_i|
            for first in range(0, outputs.shape[0], self._CANDIDATES):
                candidates = slice(first, first + self._CANDIDATES)
                block = outputs[candidates, rows].astype(np.float64)
                reward = np.einsum("knc,nc->kn", block, label_weights)
                union = num_labels + np.einsum("knc,nc->kn", block, not_labelled)
                scores[candidates] += (reward / np.maximum(union, 1.0)).sum(axis=1)
        if self._references is None:
            self._references = (perfect, normal_only)
        return scores

    def score(self, outputs: np.ndarray) -> float | np.ndarray:
        """Normalised score of (N, C) outputs (a float) or of a (K, N, C) batch (an array of K)."""
        outputs = np.asarray(outputs)
        single = outputs.ndim == 2
        batch = outputs[None] if single else outputs
        if batch.ndim != 3 or batch.shape[1:] != self.shape:
            raise ValueError(f"outputs shape {outputs.shape} does not match labels shape {self.shape} (or K x that)")
        raw = self._pass(batch.astype(bool, copy=False))
        perfect, normal_only = self._reference_scores()
        span = perfect - normal_only
        normalised = (raw - normal_only) / span if span != 0 else np.zeros_like(raw)
        return float(normalised[0]) if single else normalised


def challenge_metric(labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The normalised challenge score of binary outputs (weights default to ``weights.csv``)."""
    labels, outputs = _check_pair(labels, outputs, "outputs")
    return float(ChallengeMetric(labels, weights).score(outputs))


def compute_all(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """The seven values of the official scores file, keyed by ``METRIC_NAMES`` in that order."""
    auroc, auprc, _, _ = auroc_auprc(labels, probabilities)
    f_beta, g_beta = beta_measures(labels, outputs)
    values = (
        auroc,
        auprc,
        accuracy(labels, outputs),
        f_measure(labels, outputs)[0],
        f_beta,
        g_beta,
        challenge_metric(labels, outputs),
    )
    return dict(zip(METRIC_NAMES, values))


def with_sensitivity_specificity(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """``compute_all`` plus the seed paper's sensitivity and specificity (macro over classes)."""
    values = compute_all(labels, outputs, probabilities)
    sensitivity, specificity = sensitivity_specificity(labels, outputs)
    values["Sensitivity"] = _nanmean(sensitivity)
    values["Specificity"] = _nanmean(specificity)
    return values


def per_class(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class prevalence, sensitivity, specificity, F1, AUROC and AUPRC (NaN where undefined)."""
    sensitivity, specificity = sensitivity_specificity(labels, outputs)
    _, f1 = f_measure(labels, outputs)
    _, _, auroc, auprc = auroc_auprc(labels, probabilities)
    prevalence = np.asarray(labels, dtype=bool).mean(axis=0)
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
