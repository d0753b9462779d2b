"""Cross-validation folds: multilabel-stratified within each source, then joined.

Stratifying inside each source (told apart by the record-name prefix) keeps
every fold's mix of databases, and so of label conventions and recording
hardware, the same as the whole set's, as the seed did.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecgnet.records.files import source_of


def _targets(size: int, n_folds: int, totals: np.ndarray) -> np.ndarray:
    """Fold sizes for one source: equal shares, the remainder to the folds smallest so far overall."""
    targets = np.full(n_folds, size // n_folds, dtype=np.int64)
    targets[np.argsort(totals, kind="stable")[: size % n_folds]] += 1
    return targets


def _rebalance(folds: np.ndarray, labels: np.ndarray, targets: np.ndarray, carried: np.ndarray) -> None:
    """Move records from over- to under-full folds (in place), each time the one that least upsets label balance.

    Iterative stratification trades fold size for label balance (folds come out
    up to ~1% off); this restores exact sizes with a handful of moves, each the
    record whose move least increases the squared deviation of the per-fold
    positive counts from their expected values. ``carried`` is that deviation
    left by the sources already split, so later sources even it out.
    """
    n_folds = len(targets)
    labels = labels.astype(np.float64)
    expected = np.outer(targets / targets.sum(), labels.sum(axis=0))
    counts = np.stack([labels[folds == k].sum(axis=0) for k in range(n_folds)]) + carried
    sizes = np.bincount(folds, minlength=n_folds)
    while True:
        over, under = np.flatnonzero(sizes > targets), np.flatnonzero(sizes < targets)
        if not len(over):
            return
        source, target = over[0], under[0]
        weights = 2 * (counts[target] - expected[target]) - 2 * (counts[source] - expected[source]) + 2
        candidates = np.flatnonzero(folds == source)
        chosen = candidates[np.argmin(labels[candidates] @ weights)]
        folds[chosen] = target
        counts[source] -= labels[chosen]
        counts[target] += labels[chosen]
        sizes[source] -= 1
        sizes[target] += 1


def make_folds(names: Sequence[str], labels: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index (0..n_folds-1) of every record; the same names, labels and seed give the same folds.

    Each source is split by ``MultilabelStratifiedKFold`` (iterative
    stratification, shuffled with ``seed``), its fold sizes are then evened out
    (see ``_rebalance``), and fold k of every source is joined into fold k, so
    the joined folds differ in size by at most one record. A source with fewer
    records than folds cannot be stratified: its records (in a seeded random
    order) go one each to the folds that are smallest so far.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold  # pulls scikit-learn: import only when needed

    labels = np.asarray(labels, dtype=bool)
    if labels.ndim != 2 or labels.shape[0] != len(names):
        raise ValueError(f"labels must be (records, classes) with one row per name; got {labels.shape} for {len(names)} names")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    folds = np.full(len(names), -1, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(source_of(name), []).append(i)
    rng = np.random.default_rng(seed)
    totals = np.zeros(n_folds, dtype=np.int64)
    deviation = np.zeros((n_folds, labels.shape[1]))  # positives per fold minus their fair share, so far
    for source in sorted(groups):
        members = np.array(groups[source])
        targets = _targets(len(members), n_folds, totals)
        if len(members) < n_folds:
            folds[rng.permutation(members)] = np.flatnonzero(targets)
        else:
            local = np.empty(len(members), dtype=np.int64)
            splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            for fold, (_, test) in enumerate(splitter.split(np.zeros(len(members)), labels[members].astype(int))):
                local[test] = fold
            _rebalance(local, labels[members], targets, deviation)
            folds[members] = local
        totals += targets
        for fold in range(n_folds):
            deviation[fold] += labels[members][folds[members] == fold].sum(axis=0) - targets[fold] / len(members) * labels[members].sum(axis=0)
    return folds
