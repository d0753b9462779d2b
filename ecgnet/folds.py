"""Cross-validation folds: multilabel-stratified within each source, then joined.

Stratifying inside each source (told apart by the record-name prefix) keeps
every fold's mix of databases, and so of label conventions and recording
hardware, the same as the whole set's, as the seed did.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

SOURCES: dict[str, str] = {
    "A": "CPSC",
    "Q": "CPSC-Extra",
    "I": "INCART",
    "S": "PTB",
    "HR": "PTB-XL",
    "E": "Georgia",
}
_PREFIX_RE = re.compile(r"^[A-Za-z]*")


def source_of(name: str) -> str:
    """The database a record comes from, by its name's letter prefix (``HR01014`` -> ``PTB-XL``).

    An unknown prefix is its own group, named by the prefix itself (``JS20005``
    -> ``JS``); a name without letters falls in the group ``""``.
    """
    prefix = _PREFIX_RE.match(name)[0]
    return SOURCES.get(prefix.upper(), prefix.upper())


def make_folds(names: Sequence[str], labels: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index (0..n_folds-1) of every record; the same names, labels and seed give the same folds.

    Each source is split by ``MultilabelStratifiedKFold`` (iterative
    stratification, shuffled with ``seed``) and fold k of every source is
    joined into fold k. A source with fewer records than folds cannot be
    stratified: its records go one each to the folds that are smallest so far
    (ties broken by a seeded shuffle).
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
    tiny: list[int] = []
    for source in sorted(groups):
        members = np.array(groups[source])
        if len(members) < n_folds:
            tiny.extend(members.tolist())
            continue
        splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(members)), labels[members].astype(int))):
            folds[members[test]] = fold
    sizes = np.bincount(folds[folds >= 0], minlength=n_folds)
    for index in rng.permutation(np.array(tiny, dtype=np.int64)):
        order = rng.permutation(n_folds)
        fold = order[np.argmin(sizes[order])]
        folds[index] = fold
        sizes[fold] += 1
    return folds
