"""Scoring a directory of output files against a directory of label headers.

The logic behind ``evaluate_12ECG_score.py``, reusable by the cross-validation
and demo code. It matches the official 2020 scorer: label files are the
non-hidden ``*.hea`` files of the label directory (sorted), each needs
``NAME.csv`` in the output directory, labels come from the ``#Dx`` line, and a
malformed output file counts as all-negative (reported, not fatal).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import classes, metrics
from .errors import RecordError
from .header import read_dx_codes
from .outputs import OutputFileError, read_output

logger = logging.getLogger(__name__)

MAX_NAMED = 5  # missing records named in an error message before "and N more"


class ScoringError(RuntimeError):
    """The directories cannot be scored (no labels, missing outputs, unreadable headers)."""


@dataclass(frozen=True)
class ScoringInput:
    """Everything read from the two directories, in the order of the sorted label files."""

    records: tuple[str, ...]
    labels: np.ndarray  # (N, 24) bool
    outputs: np.ndarray  # (N, 24) bool
    probabilities: np.ndarray  # (N, 24) float
    bad_outputs: tuple[OutputFileError, ...]  # files counted as all-negative


def label_files(label_dir: str | Path) -> list[Path]:
    """The label headers the official scorer uses: regular ``*.hea`` files not starting with '.'."""
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise ScoringError(f"label directory {label_dir} does not exist or is not a directory")
    found = [
        label_dir / name
        for name in sorted(os.listdir(label_dir))
        if name.lower().endswith(".hea") and not name.startswith(".") and (label_dir / name).is_file()
    ]
    if not found:
        raise ScoringError(f"no label files (*.hea) in {label_dir}")
    return found


def load_directories(label_dir: str | Path, output_dir: str | Path) -> ScoringInput:
    """Read labels and outputs; raises ``ScoringError`` on anything the scorer cannot score around."""
    headers = label_files(label_dir)
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ScoringError(f"output directory {output_dir} does not exist or is not a directory")
    records = [os.path.splitext(header.name)[0] for header in headers]
    output_paths = [output_dir / f"{record}.csv" for record in records]
    missing = [path.name for path in output_paths if not path.is_file()]
    if missing:
        named = ", ".join(missing[:MAX_NAMED]) + (f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else "")
        raise ScoringError(f"{len(missing)} of {len(records)} label files have no output file in {output_dir}: {named}")

    labels = np.zeros((len(records), classes.NUM_CLASSES), dtype=bool)
    outputs = np.zeros_like(labels)
    probabilities = np.zeros(labels.shape)
    bad: list[OutputFileError] = []
    for i, (header, output_path) in enumerate(zip(headers, output_paths)):
        try:
            labels[i] = classes.encode_codes(read_dx_codes(header))
        except RecordError as exc:
            raise ScoringError(str(exc)) from None
        try:
            outputs[i], probabilities[i] = read_output(output_path)
        except OutputFileError as exc:
            bad.append(exc)
    return ScoringInput(tuple(records), labels, outputs, probabilities, tuple(bad))


def score_directories(label_dir: str | Path, output_dir: str | Path) -> dict[str, float]:
    """The seven official metrics (``metrics.METRIC_NAMES`` order); malformed outputs are logged."""
    data = load_directories(label_dir, output_dir)
    for problem in data.bad_outputs:
        logger.warning("%s; counted as all-negative", problem)
    return metrics.compute_all(data.labels, data.outputs, data.probabilities)
