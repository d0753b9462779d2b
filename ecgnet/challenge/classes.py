"""A challenge's scored classes as data: codes, equivalences, names and the reward matrix.

The single source of truth: every other module takes the class list, the equivalences
and the weights from here. ``class_set(name)`` gives one challenge's ``ClassSet``, read
from the organisers' tables in ``ecgnet/challenge/tables/NAME/`` (``weights.csv``,
``dx_mapping_scored.csv``, ``dx_mapping_unscored.csv``; BSD-2-Clause, see NOTICE), so
the project and the organisers' scorers cannot disagree about them. A built package
(``pip install .``) carries the tables. The names, ``CLASS_SETS``:

* ``"2020"`` (PhysioNet/CinC Challenge 2020, Perez Alday et al., Physiol. Meas.
  41(12):124003, 2020): 24 classes. Its ``weights.csv`` (links to the repository root's,
  which the 2020 contract reads) lists 27 codes; the official 2020 scorer merges three
  pairs that it hard-codes (``EQUIVALENT_PAIRS``), each onto its first code.
* ``"2021"`` (the 2021 challenge, "Will Two Do? Varying Dimensions in
  Electrocardiography", Reyna et al., CinC 2021): 26 classes. Its ``weights.csv``
  writes each equivalence into the class name (``733534002|164909002``): 30 codes.

A class's order is the order of its first row in ``weights.csv``; its representative
code (``ClassSet.codes``) is the first of its equivalent codes. A model directory
records its class set by ``ClassSet.name``. The module-level names (``CLASSES``,
``encode_codes``, ``class_index``, ...) are the default set's, 2020's.
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ecgnet.errors import AnalysisError

TABLE_DIR = Path(__file__).resolve().parent / "tables"  # one folder per class set
CLASS_SETS: tuple[str, ...] = ("2020", "2021")
DEFAULT_CLASS_SET = "2020"
NORMAL_CLASS = "426783006"  # sinus rhythm: the "inactive" prediction of the metric, in both years

# The official 2020 scorer's equivalences, absent from its table; the first code represents the pair.
EQUIVALENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"),  # CRBBB = RBBB
    ("284470004", "63593006"),  # PAC = SVPB
    ("427172004", "17338001"),  # PVC = VPB
)
_EXTRA_EQUIVALENTS = {"2020": EQUIVALENT_PAIRS, "2021": ()}


@dataclass(frozen=True, eq=False)
class ClassSet:
    """One challenge's C scored classes, immutable; ``class_set(name)`` builds it.

    ``codes`` (C,) holds each class's representative SNOMED CT code, ``members`` (C,)
    all of its codes (representative first), ``weights`` the (C, C) read-only reward
    matrix (rows: true class, columns: output), ``code_index`` every member code's class
    index (exact strings). Codes passed to the methods are stripped of spaces first.
    """

    name: str
    codes: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]
    weights: np.ndarray = field(repr=False)
    normal_class: str
    table_dir: Path
    code_index: Mapping[str, int] = field(repr=False)
    code_names: Mapping[str, tuple[str, str]] = field(repr=False)  # code -> (abbreviation, description), scored and unscored

    @property
    def num_classes(self) -> int:
        """C, the number of scored classes."""
        return len(self.codes)

    @property
    def normal_index(self) -> int:
        """Index of the sinus-rhythm class, the normal-only reference of the challenge metric."""
        return self.code_index[self.normal_class]

    @property
    def abbreviations(self) -> tuple[str, ...]:
        """(C,) short names of the classes' representative codes (``CLBBB`` for ``733534002|164909002``)."""
        return tuple(self.abbreviation(code) for code in self.codes)

    @property
    def descriptions(self) -> tuple[str, ...]:
        """(C,) long names of the classes' representative codes."""
        return tuple(self.description(code) for code in self.codes)

    def canonical_code(self, code: str) -> str:
        """The representative of the class containing ``code``; ``code`` itself (stripped) when unscored."""
        code = code.strip()
        index = self.code_index.get(code)
        return code if index is None else self.codes[index]

    def is_scored(self, code: str) -> bool:
        """Whether the SNOMED CT ``code`` belongs to one of the scored classes."""
        return code.strip() in self.code_index

    def encode_codes(self, codes: Iterable[str]) -> np.ndarray:
        """(C,) bool: the scored classes among SNOMED CT ``codes`` (any member of a class); unscored codes are ignored."""
        vector = np.zeros(self.num_classes, dtype=bool)
        for code in codes:
            index = self.code_index.get(code.strip())
            if index is not None:
                vector[index] = True
        return vector

    def abbreviation(self, code: str) -> str:
        """Short name of a scored or unscored code (the code itself if unknown)."""
        code = code.strip()
        return self.code_names[code][0] if code in self.code_names else code

    def description(self, code: str) -> str:
        """Long name of a scored or unscored code (the code itself if unknown)."""
        code = code.strip()
        return self.code_names[code][1] if code in self.code_names else code

    def class_index(self, name: str) -> int:
        """Index of a scored class named by abbreviation (any case: ``LAD``, ``rbbb``) or by any of its SNOMED CT codes.

        Either member of an equivalent pair names the pair (``RBBB`` and ``59118001`` give CRBBB's index).
        Raises ``ValueError`` listing the accepted abbreviations when ``name`` is neither.
        """
        name = name.strip()
        by_abbreviation = {abbr.lower(): code for code, (abbr, _) in self.code_names.items() if code in self.code_index}
        index = self.code_index.get(by_abbreviation.get(name.lower(), name))
        if index is None:
            raise ValueError(f"{name!r} is not a scored class of the {self.name} challenge: give a SNOMED CT code or one of "
                             f"{', '.join(sorted(set(self.abbreviations)))}")
        return index


def _read_weight_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Column names and the square table of values of ``weights.csv``; ValueError when rows and columns differ."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    columns = [c.strip() for c in rows[0][1:]]
    if [r[0].strip() for r in rows[1:]] != columns:
        raise ValueError(f"{path}: row and column names differ")
    return columns, np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)


def _read_names(table_dir: Path) -> dict[str, tuple[str, str]]:
    """Code -> (abbreviation, description) from the scored and unscored mapping tables (scored first wins)."""
    names: dict[str, tuple[str, str]] = {}
    for table in ("dx_mapping_unscored.csv", "dx_mapping_scored.csv"):
        with open(table_dir / table, newline="") as handle:
            for row in csv.DictReader(handle):
                code = row.get("SNOMED CT Code", row.get("SNOMEDCTCode", "")).strip()  # 2020's and 2021's column names
                names[code] = (row["Abbreviation"].strip(), row["Dx"].strip())
    return names


def _collapse(path: Path, names: list[str], values: np.ndarray, extra: tuple[tuple[str, ...], ...]) -> tuple[list[tuple[str, ...]], list[int]]:
    """Each class's codes and its first row: a row's codes are its name split on ``|``, joined with any ``extra`` equivalents.

    Rows of one class must carry equal weights (the official scorers assume it); ValueError otherwise.
    """
    groups = {code: group for group in extra for code in group}
    members: list[tuple[str, ...]] = []
    rows: list[int] = []
    for i, name in enumerate(names):
        codes = tuple(dict.fromkeys(c for code in name.split("|") for c in groups.get(code, (code,))))
        here = next((k for k, group in enumerate(members) if set(group) & set(codes)), None)
        if here is None:
            members.append(codes)
            rows.append(i)
            continue
        first = rows[here]
        if not (np.array_equal(values[i], values[first]) and np.array_equal(values[:, i], values[:, first])):
            raise ValueError(f"{path}: equivalent classes {names[first]} and {name} have different weights")
        members[here] = tuple(dict.fromkeys(members[here] + codes))
    return members, rows


def class_set(name: str | int = DEFAULT_CLASS_SET) -> ClassSet:
    """The class set of one challenge, ``"2020"`` or ``"2021"`` (an int year works too); built once, then shared.

    Raises ``ValueError`` naming the known sets for any other name.
    """
    if str(name) not in CLASS_SETS:
        raise ValueError(f"unknown class set {name!r}: known are {', '.join(CLASS_SETS)}")
    return _build(str(name))


@cache
def _build(name: str) -> ClassSet:
    """``class_set``'s body, once per name."""
    table_dir = TABLE_DIR / name
    weights_file = table_dir / "weights.csv"
    row_names, values = _read_weight_table(weights_file)
    members, rows = _collapse(weights_file, row_names, values, _EXTRA_EQUIVALENTS[name])
    weights = values[np.ix_(rows, rows)]
    weights.setflags(write=False)
    code_index = {code: k for k, group in enumerate(members) for code in group}
    if NORMAL_CLASS not in code_index:
        raise ValueError(f"{weights_file}: no sinus rhythm class {NORMAL_CLASS}")
    return ClassSet(name=name, codes=tuple(group[0] for group in members), members=tuple(members), weights=weights,
                    normal_class=NORMAL_CLASS, table_dir=table_dir, code_index=MappingProxyType(code_index),
                    code_names=MappingProxyType(_read_names(table_dir)))


# ---- the default class set (2020), as module-level names ----------------------------------

DEFAULT = class_set()
WEIGHTS_FILE = DEFAULT.table_dir / "weights.csv"
CLASSES: tuple[str, ...] = DEFAULT.codes
NUM_CLASSES = DEFAULT.num_classes
CLASS_INDEX: dict[str, int] = {code: i for i, code in enumerate(CLASSES)}  # representatives only
NORMAL_INDEX = DEFAULT.normal_index
ABBREVIATIONS: tuple[str, ...] = DEFAULT.abbreviations
canonical_code = DEFAULT.canonical_code
is_scored = DEFAULT.is_scored
encode_codes = DEFAULT.encode_codes
abbreviation = DEFAULT.abbreviation
description = DEFAULT.description
class_index = DEFAULT.class_index


def load_weights() -> np.ndarray:
    """The default set's (24, 24) reward matrix (read-only), rows = true class, columns = output."""
    return DEFAULT.weights


def class_argument(name: str) -> str:
    """A class named on the command line, as an argparse ``type``: ``name`` stripped, once it is an abbreviation or SNOMED
    CT code of a class some challenge scores; the command then finds it in its model's or results' class set
    (``class_in``). An unknown name is a usage error that lists the largest set's abbreviations."""
    for challenge in CLASS_SETS:
        try:
            class_set(challenge).class_index(name)
            return name.strip()
        except ValueError as error:
            unknown = error
    raise argparse.ArgumentTypeError(str(unknown)) from None


def class_in(classes: ClassSet, name: str, where: Path) -> int:
    """Index in ``classes`` of the class ``name`` names; ``AnalysisError`` naming ``where`` (the model directory or results
    folder whose classes they are) when that set lacks it, as the 2020 set lacks 2021's BBB and PRWP."""
    try:
        return classes.class_index(name)
    except ValueError as error:
        raise AnalysisError(f"{where}: {error}") from None
