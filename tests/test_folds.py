"""Sources by name prefix and stratified folds (sizes and label balance on the full 2020 label table)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import shared_path

from ecgnet.challenge.classes import ABBREVIATIONS, encode_codes
from ecgnet.data.folds import make_folds
from ecgnet.records.files import source_of

SEED_FOLD_SIZES = (7549, 7549, 7557, 7545, 7549)


@pytest.mark.parametrize("name, source", [
    ("A0001", "CPSC"), ("Q0002", "CPSC-Extra"), ("I0001", "INCART"), ("S0001", "PTB"), ("HR01014", "PTB-XL"),
    ("E00015", "Georgia"), ("JS20005", "Chapman-Shaoxing-Ningbo"), ("XY20005", "XY"), ("ETEST", "ETEST"), ("12345", ""),
])
def test_source_of(name, source):
    assert source_of(name) == source


def _synthetic(n: int, classes: int = 6, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    prefixes = rng.choice(["A", "E", "HR"], size=n)
    names = [f"{p}{i:05d}" for i, p in enumerate(prefixes)]
    return names, rng.random((n, classes)) < 0.2


def test_folds_are_deterministic_for_a_seed_and_change_with_it():
    names, labels = _synthetic(300)
    first = make_folds(names, labels, seed=3)
    assert np.array_equal(first, make_folds(names, labels, seed=3))
    assert not np.array_equal(first, make_folds(names, labels, seed=4))
    assert set(first) == set(range(5))


def test_tiny_and_unknown_sources_still_get_folds():
    names, labels = _synthetic(60)
    names += ["I0001", "I0002", "ZZ1"]  # INCART with 2 records, an unknown prefix with 1
    labels = np.vstack([labels, np.ones((3, labels.shape[1]), bool)])
    folds = make_folds(names, labels, n_folds=5, seed=0)
    assert folds.min() >= 0 and folds.max() <= 4
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert len({folds[-3], folds[-2]}) == 2  # the two INCART records go to different folds


def test_each_source_is_split_evenly():
    names, labels = _synthetic(503)
    folds = make_folds(names, labels, n_folds=4, seed=1)
    for prefix in ("A", "E", "HR"):
        sizes = np.bincount(folds[[n.startswith(prefix) for n in names]], minlength=4)
        assert sizes.max() - sizes.min() <= 1


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_folds(["A1", "A2"], np.zeros((3, 24), bool))
    with pytest.raises(ValueError):
        make_folds(["A1", "A2"], np.zeros((2, 24), bool), n_folds=1)


def test_cinc2020_fold_sizes_and_balance():
    with open(shared_path("data", "cinc2020-labels.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [row["record"] for row in rows]
    labels = np.array([encode_codes(row["dx"].split("|")) for row in rows])
    folds = make_folds(names, labels, n_folds=5, seed=0)
    sizes = np.bincount(folds, minlength=5)
    print(f"\nfold sizes {sizes.tolist()} (seed's {list(SEED_FOLD_SIZES)})")
    assert np.all(np.abs(sizes - np.array(SEED_FOLD_SIZES)) <= 10)
    positives = np.stack([labels[folds == k].sum(axis=0) for k in range(5)])
    fair = np.outer(sizes / sizes.sum(), labels.sum(axis=0))
    deviation = np.abs(positives - fair)
    fold, worst = np.unravel_index(np.argmax(deviation), deviation.shape)
    relative = deviation / fair
    rfold, rworst = np.unravel_index(np.argmax(relative), relative.shape)
    print(f"worst class deviation: {ABBREVIATIONS[worst]} fold {fold}: {positives[fold, worst]} positives vs "
          f"{fair[fold, worst]:.1f} fair ({deviation[fold, worst]:.1f}); worst relative: {ABBREVIATIONS[rworst]} fold {rfold}: "
          f"{positives[rfold, rworst]} vs {fair[rfold, rworst]:.1f} ({relative[rfold, rworst]:.1%})")
    assert deviation.max() <= 5
    for source in ("CPSC", "PTB-XL", "Georgia"):  # every fold holds its share of each source
        per_fold = np.bincount(folds[[source_of(n) == source for n in names]], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
