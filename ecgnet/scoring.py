"""Scoring a directory of output files against a directory of label headers.

The logic behind ``evaluate_12ECG_score.py``, reusable by the cross-validation
and demo code. It matches the official 2020 scorer: label files are the
non-hidden ``*.hea`` files of the label directory (sorted), each needs
``NAME.csv`` in the output directory, labels come from the ``#Dx`` line (LF, CRLF or
CR-only line ends: the official scorer reads in text mode, universal newlines), and a
malformed output file counts as all-negative (reported, not fatal). The 2021 scorer,
whose rules differ, is ``scoring2021.py``; it shares the pairing of files and the scores file.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.challenge import classes, metrics
from ecgnet.errors import RecordError, ScoringError
from ecgnet.inference.outputs import OutputFileError, read_output
from ecgnet.records.header import read_dx_codes

logger = logging.getLogger(__name__)

MAX_NAMED = 5  # missing records named in an error message before "and N more"


@dataclass(frozen=True)
class ScoringInput:
    """Everything read from the two directories, in the order of the sorted label files."""

    records: tuple[str, ...]
    labels: np.ndarray  # (N, C) bool
    outputs: np.ndarray  # (N, C) bool
    probabilities: np.ndarray  # (N, C) float
    bad_outputs: tuple[OutputFileError, ...]  # files counted as all-negative


def _files(directory: str, suffix: str) -> list[str]:
    """Names of the regular files (links followed) in ``directory`` ending in ``suffix`` (any case)."""
    with os.scandir(directory) as entries:
        return [entry.name for entry in entries if entry.name.lower().endswith(suffix) and entry.is_file()]


def label_files(label_dir: str | Path) -> list[Path]:
    """The label headers the official scorer uses: regular ``*.hea`` files not starting with '.', sorted."""
    if not os.path.isdir(label_dir):
        raise ScoringError(f"label directory {label_dir} does not exist or is not a directory")
    names = sorted(name for name in _files(os.fspath(label_dir), ".hea") if not name.startswith("."))
    if not names:
        raise ScoringError(f"no label files (*.hea) in {label_dir}")
    return [Path(label_dir, name) for name in names]


def paired_files(label_dir: str | Path, output_dir: str | Path) -> tuple[list[str], list[str]]:
    """The label files (``label_files``) and their records' names; ``ScoringError`` unless each has ``NAME.csv`` in ``output_dir``.

    Both official scorers (2020 and 2021) need an output file for every label file and stop at the first one missing.
    """
    headers = [os.fspath(path) for path in label_files(label_dir)]
    if not os.path.isdir(output_dir):
        raise ScoringError(f"output directory {output_dir} does not exist or is not a directory")
    records = [os.path.splitext(os.path.basename(header))[0] for header in headers]
    present = set(_files(os.fspath(output_dir), ".csv"))
    missing = [f"{record}.csv" for record in records if f"{record}.csv" not in present]
    if missing:
        named = ", ".join(missing[:MAX_NAMED]) + (f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else "")
        raise ScoringError(f"{len(missing)} of {len(records)} label files have no output file in {output_dir}: {named}")
    return headers, records


def load_directories(label_dir: str | Path, output_dir: str | Path) -> ScoringInput:
    """Read labels and outputs; raises ``ScoringError`` on anything the scorer cannot score around."""
    headers, records = paired_files(label_dir, output_dir)
    labels = np.zeros((len(records), classes.NUM_CLASSES), dtype=bool)
    outputs = np.zeros_like(labels)
    probabilities = np.zeros(labels.shape)
    bad: list[OutputFileError] = []
    for i, (header, record) in enumerate(zip(headers, records)):
        try:
            labels[i] = classes.encode_codes(read_dx_codes(header))
        except RecordError as exc:
            raise ScoringError(str(exc)) from None
        try:
            outputs[i], probabilities[i] = read_output(os.path.join(output_dir, f"{record}.csv"))
        except OutputFileError as exc:
            bad.append(exc)
    return ScoringInput(tuple(records), labels, outputs, probabilities, tuple(bad))


def scores_text(values: Mapping[str, float]) -> str:
    """A scores file at full precision: the metric names (the keys, in order), then one line of values (repr, NaN as ``nan``).

    The official scorers write the same two lines with values rounded to 3 decimals.
    """
    return ",".join(values) + "\n" + ",".join(repr(float(value)) for value in values.values()) + "\n"


def score_directories(label_dir: str | Path, output_dir: str | Path) -> dict[str, float]:
    """The seven official metrics (``metrics.METRIC_NAMES`` order); malformed outputs are logged."""
    data = load_directories(label_dir, output_dir)
    for problem in data.bad_outputs:
        logger.warning("%s; counted as all-negative", problem)
    return metrics.compute_all(data.labels, data.outputs, data.probabilities)
