"""The 24 scored classes, their equivalences, names and the reward matrix.

The single source of truth: every other module takes the class list, the
equivalences and the weights from here. Everything is read from the official
tables at the repository root (``weights.csv``, ``dx_mapping_scored.csv``,
``dx_mapping_unscored.csv``; BSD-2-Clause, see NOTICE), so the project and the
organisers' scorer cannot disagree about them. They are read through the links in
``ecgnet/challenge/tables/``, which a built package (``pip install .``) carries as copies.

The class order is the order of ``weights.csv`` with each equivalent pair
collapsed onto its first code, exactly as the official 2020 scorer builds it.
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np

TABLE_DIR = Path(__file__).resolve().parent / "tables"  # links to the root's files
WEIGHTS_FILE = TABLE_DIR / "weights.csv"
SCORED_MAPPING_FILE = TABLE_DIR / "dx_mapping_scored.csv"
UNSCORED_MAPPING_FILE = TABLE_DIR / "dx_mapping_unscored.csv"

# Each pair is scored as one diagnosis; the first code represents the pair.
EQUIVALENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"),  # CRBBB = RBBB
    ("284470004", "63593006"),  # PAC = SVPB
    ("427172004", "17338001"),  # PVC = VPB
)
NORMAL_CLASS = "426783006"  # sinus rhythm: the "inactive" prediction of the metric

_REPRESENTATIVE = {second: first for first, second in EQUIVALENT_PAIRS}


def canonical_code(code: str) -> str:
    """Map a SNOMED CT code onto its class representative (identity if none)."""
    code = code.strip()
    return _REPRESENTATIVE.get(code, code)


def _read_weight_table(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    columns = [c.strip() for c in rows[0][1:]]
    row_codes = [r[0].strip() for r in rows[1:]]
    if row_codes != columns:
        raise ValueError(f"{path}: row and column codes differ")
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)
    return columns, values


@cache
def _catalogue() -> tuple[tuple[str, ...], np.ndarray]:
    codes, values = _read_weight_table(WEIGHTS_FILE)
    representatives = [canonical_code(c) for c in codes]
    classes: list[str] = []
    indices: list[int] = []
    for i, code in enumerate(representatives):
        if code in classes:
            # The official scorer asserts that equivalent rows carry equal weights.
            first = indices[classes.index(code)]
            if not (np.array_equal(values[i], values[first]) and np.array_equal(values[:, i], values[:, first])):
                raise ValueError(f"{WEIGHTS_FILE}: equivalent codes {codes[first]} and {codes[i]} differ")
            continue
        classes.append(code)
        indices.append(i)
    weights = values[np.ix_(indices, indices)]
    weights.setflags(write=False)
    return tuple(classes), weights


CLASSES: tuple[str, ...] = _catalogue()[0]
NUM_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {code: i for i, code in enumerate(CLASSES)}
NORMAL_INDEX = CLASS_INDEX[NORMAL_CLASS]


def load_weights() -> np.ndarray:
    """The 24 x 24 reward matrix (read-only), rows = true class, columns = output."""
    return _catalogue()[1]


@cache
def _mapping(path: Path) -> dict[str, tuple[str, str]]:
    with open(path, newline="") as handle:
        return {row["SNOMED CT Code"].strip(): (row["Abbreviation"].strip(), row["Dx"].strip()) for row in csv.DictReader(handle)}


def abbreviation(code: str) -> str:
    """Short name of a scored or unscored code (the code itself if unknown)."""
    code = code.strip()
    for path in (SCORED_MAPPING_FILE, UNSCORED_MAPPING_FILE):
        if code in _mapping(path):
            return _mapping(path)[code][0]
    return code


def description(code: str) -> str:
    """Long name of a scored or unscored code (the code itself if unknown)."""
    code = code.strip()
    for path in (SCORED_MAPPING_FILE, UNSCORED_MAPPING_FILE):
        if code in _mapping(path):
            return _mapping(path)[code][1]
    return code


ABBREVIATIONS: tuple[str, ...] = tuple(abbreviation(c) for c in CLASSES)


def is_scored(code: str) -> bool:
    """Whether the SNOMED CT ``code`` (or its scored equivalent) is one of the 24 scored classes."""
    return canonical_code(code) in CLASS_INDEX


def encode_codes(codes: Iterable[str]) -> np.ndarray:
    """24-vector (bool) of the scored classes among SNOMED codes; unscored codes are ignored."""
    vector = np.zeros(NUM_CLASSES, dtype=bool)
    for code in codes:
        index = CLASS_INDEX.get(canonical_code(code))
        if index is not None:
            vector[index] = True
    return vector


def class_index(name: str) -> int:
    """Index into ``CLASSES`` of a scored class named by abbreviation (any case: ``LAD``, ``rbbb``) or SNOMED CT code.

    Either member of an equivalent pair names the pair (``RBBB`` and ``59118001`` give CRBBB's index).
    Raises ``ValueError`` listing the accepted abbreviations when ``name`` is neither.
    """
    name = name.strip()
    by_abbreviation = {abbr.lower(): code for code, (abbr, _) in _mapping(SCORED_MAPPING_FILE).items()}
    code = canonical_code(by_abbreviation.get(name.lower(), name))
    if code not in CLASS_INDEX:
        raise ValueError(f"{name!r} is not a scored class: give a SNOMED CT code or one of {', '.join(sorted(set(ABBREVIATIONS)))}")
    return CLASS_INDEX[code]


def class_argument(name: str) -> int:
    """``class_index`` as an argparse ``type``: an unknown class is a usage error that lists the accepted names."""
    try:
        return class_index(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
