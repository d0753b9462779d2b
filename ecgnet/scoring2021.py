"""The 2021 challenge's scorer: a directory of output files against a directory of label headers.

The logic behind ``evaluate_model.py``. It gives the official 2021 scorer's values
(``evaluate_model.py`` and ``helper_code.py`` of physionetchallenges/evaluation-2021)
on the 2021 class set (``classes.class_set("2021")``: 26 classes, 30 codes) by the
official rules, which differ from 2020's (``scoring.py``):

* Files: the non-hidden ``*.hea`` files of the label directory, sorted; each needs
  ``NAME.csv`` in the output directory (as in 2020).
* Labels: every header line that starts with ``#Dx`` gives the comma-separated codes
  after its first ``": "`` (none when it has no ``": "``), each stripped; a code counts
  for the class that holds it. Line ends LF, CRLF or CR.
* Outputs are read by position: line 1 (``#RECORD_ID``) is ignored whatever it holds;
  lines 2-4 are the classes, the binary outputs and the probabilities; later lines are
  ignored. Blank and ``#`` lines count as lines, so one after line 1 moves the rest down.
  A class token is split on ``|`` (not stripped inside) and the column counts for every
  class one of its codes belongs to. A binary token, stripped, is positive when it is a
  finite number equal to 1 (``1``, ``1.0``, ``01``, ``+1``, ``1e0``) or exactly ``True``,
  ``true``, ``T`` or ``t``. A probability that is not a finite number (empty, ``nan``,
  ``inf``) counts as 0. Several columns of one class give the OR of their binaries and
  the plain mean of their probabilities; a class without a column is negative with
  probability 0. A file whose class line names no scored class is reported, not fatal.
* The five metrics (``METRIC_NAMES``) are ``challenge.metrics``' with the 2021 weights.

Where the official scorer stops with an error, ``load_directories`` raises
``ScoringError`` naming the file and the problem: a missing output file, no label files,
a label or output file that cannot be read as UTF-8 text, an output file with fewer than
four lines, or a class column without a binary output or a probability.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgnet.challenge import metrics
from ecgnet.challenge.classes import ClassSet, class_set
from ecgnet.errors import FileError, OutputFileError, RecordError
from ecgnet.scoring import ScoringInput, read_directories, scores_text

CLASS_SET = "2021"
METRIC_NAMES: tuple[str, ...] = ("AUROC", "AUPRC", "Accuracy", "F-measure", "Challenge metric")
PER_CLASS_NAMES: tuple[str, ...] = ("AUROC", "AUPRC", "F-measure")  # the rows of the class scores file
POSITIVE_WORDS = frozenset({"True", "true", "T", "t"})
OUTPUT_LINES = 4  # #RECORD_ID, classes, binary outputs, probabilities


def _lines(path: str | Path, error: type[FileError]) -> list[str]:
    """The lines of a UTF-8 text file as the official scorer reads it (universal newlines, ends removed); ``error`` if unreadable."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise error(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 text (byte {exc.start})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines  # a final line end ends the last line, it opens none


def read_label_codes(path: str | Path) -> list[str]:
    """The ``#Dx`` codes of a label header by the official 2021 rule (module docstring); ``RecordError`` if unreadable."""
    codes: list[str] = []
    for line in _lines(path, RecordError):
        if line.startswith("#Dx"):
            parts = line.split(": ")
            if len(parts) > 1:
                codes.extend(entry.strip() for entry in parts[1].split(","))
    return codes


@lru_cache(maxsize=256)
def _columns(class_line: str, classes: ClassSet) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, tuple[int, ...]], ...], int]:
    """Which columns of ``class_line`` count for which class: those whose ``|``-separated codes meet it.

    Returns (class index, column) of the classes met by one column, (class index, columns in order)
    of those met by several, and the last column that counts (-1: none). Output files of one
    model share their class line, so this runs once per model.
    """
    columns: list[list[int]] = [[] for _ in range(classes.num_classes)]
    for column, token in enumerate(class_line.split(",")):
        for index in sorted({classes.code_index.get(code, -1) for code in token.strip().split("|")} - {-1}):
            columns[index].append(column)
    single = tuple((index, met[0]) for index, met in enumerate(columns) if len(met) == 1)
    several = tuple((index, tuple(met)) for index, met in enumerate(columns) if len(met) > 1)
    return single, several, max((column for met in columns for column in met), default=-1)


def _is_positive(token: str) -> bool:
    """A binary output: stripped, exactly one of ``POSITIVE_WORDS`` or a number equal to 1."""
    token = token.strip()
    if token in POSITIVE_WORDS:
        return True
    try:
        return float(token) == 1
    except ValueError:
        return False


def _probability(token: str) -> float:
    """``float(token)`` (surrounding spaces allowed) when finite, else 0."""
    try:
        value = float(token)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def read_output(path: str | Path, classes: ClassSet) -> tuple[np.ndarray, np.ndarray, bool]:
    """Binary outputs (bool, C), probabilities (float, C) of ``NAME.csv`` by the 2021 rules, and whether any column was scored.

    ``OutputFileError`` where the official scorer stops: unreadable, fewer than four lines, a
    scored column past the end of the binary-output or probability line.
    """
    lines = _lines(path, OutputFileError)
    if len(lines) < OUTPUT_LINES:
        raise OutputFileError(path, f"{len(lines)} line(s); a 2021 output file needs {OUTPUT_LINES}: "
                                    "#RECORD_ID, classes, binary outputs, probabilities")
    single, several, last = _columns(lines[1], classes)
    binaries, probabilities = lines[2].split(","), lines[3].split(",")
    for what, line, values in (("binary outputs", 3, binaries), ("probabilities", 4, probabilities)):
        if last >= len(values):
            raise OutputFileError(path, f"line 2 names a scored class in column {last + 1}, but line {line} "
                                        f"({what}) has only {len(values)} value(s)")
    positive = [False] * classes.num_classes
    scores = [0.0] * classes.num_classes
    for index, column in single:
        positive[index] = _is_positive(binaries[column])
        scores[index] = _probability(probabilities[column])
    for index, met in several:
        positive[index] = any(_is_positive(binaries[column]) for column in met)
        scores[index] = sum(_probability(probabilities[column]) for column in met) / len(met)
    return np.array(positive), np.array(scores), last >= 0


def _read_pair(header: str, output: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, OutputFileError | None]:
    """The 2021 ``scoring.PairReader``: any unreadable file stops the scorer; an output naming no scored class is reported."""
    classes = class_set(CLASS_SET)
    labels = classes.encode_codes(read_label_codes(header))
    outputs, probabilities, scored = read_output(output, classes)
    return labels, outputs, probabilities, None if scored else OutputFileError(output, "line 2 names no scored class")


def load_directories(label_dir: str | Path, output_dir: str | Path) -> ScoringInput:
    """Labels and outputs (C = 26) in the order of the sorted label files; ``ScoringError`` where the official stops.

    ``bad_outputs`` lists the output files that name no scored class (counted as all-negative, probability 0).
    """
    return read_directories(label_dir, output_dir, class_set(CLASS_SET).num_classes, _read_pair)


def evaluate(data: ScoringInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The five metrics (``METRIC_NAMES`` order) and the per-class (C,) AUROC, AUPRC and F-measure (``PER_CLASS_NAMES``)."""
    classes = class_set(CLASS_SET)
    auroc, auprc, auroc_classes, auprc_classes = metrics.auroc_auprc(data.labels, data.probabilities)
    f_measure, f_measure_classes = metrics.f_measure(data.labels, data.outputs)
    values = (auroc, auprc, metrics.accuracy(data.labels, data.outputs), f_measure,
              metrics.challenge_metric(data.labels, data.outputs, classes.weights, classes.normal_index))
    return dict(zip(METRIC_NAMES, values)), dict(zip(PER_CLASS_NAMES, (auroc_classes, auprc_classes, f_measure_classes)))


def texts(data: ScoringInput) -> list[str]:
    """The two files of ``evaluate_model.py`` at full precision: the scores file and the class scores file."""
    values, per_class = evaluate(data)
    return [scores_text(values), class_scores_text(per_class)]


def class_scores_text(per_class: dict[str, np.ndarray]) -> str:
    """The class scores file at full precision: ``Classes`` (each class's codes sorted as text, joined by ``|``), then a row per measure."""
    names = ["|".join(sorted(codes)) for codes in class_set(CLASS_SET).members]
    rows = [["Classes", *names]] + [[measure, *(repr(float(v)) for v in values)] for measure, values in per_class.items()]
    return "".join(",".join(row) + "\n" for row in rows)
