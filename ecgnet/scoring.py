"""Scoring a directory of output files against a directory of label headers.

The logic behind ``evaluate_12ECG_score.py``, reusable by the cross-validation
and demo code. It matches the official 2020 scorer: label files are the
non-hidden ``*.hea`` files of the label directory (sorted), each needs
``NAME.csv`` in the output directory, labels come from the ``#Dx`` line (LF, CRLF or
CR-only line ends: the official scorer reads in text mode, universal newlines), and a
malformed output file counts as all-negative (reported, not fatal). The 2021 scorer,
whose rules differ, is ``scoring2021.py``; it shares the reading loop, the scores file and the command's body.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.challenge import classes, metrics
from ecgnet.errors import FileError, OutputFileError, ScoringError
from ecgnet.fileio import atomic_write_text
from ecgnet.inference.outputs import read_output
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


# One record's labels, outputs, probabilities (C,) and a problem reported without stopping (or None), from the paths
# of its label header and output file; a FileError it raises stops the scorer.
PairReader = Callable[[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, "OutputFileError | None"]]


def read_directories(label_dir: str | Path, output_dir: str | Path, num_classes: int, read_pair: PairReader) -> ScoringInput:
    """Every label file (``label_files``) and its ``NAME.csv`` in ``output_dir``, read by ``read_pair`` into C = ``num_classes``.

    ``ScoringError`` when an output file is missing (both official scorers, 2020 and 2021, stop at the
    first one; this names up to ``MAX_NAMED``) or when ``read_pair`` raises a ``FileError`` (it names the file).
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
    labels = np.zeros((len(records), num_classes), dtype=bool)
    outputs = np.zeros_like(labels)
    probabilities = np.zeros(labels.shape)
    bad: list[OutputFileError] = []
    for i, (header, record) in enumerate(zip(headers, records)):
        try:
            labels[i], outputs[i], probabilities[i], problem = read_pair(header, os.path.join(output_dir, f"{record}.csv"))
        except FileError as exc:
            raise ScoringError(str(exc)) from None
        if problem is not None:
            bad.append(problem)
    return ScoringInput(tuple(records), labels, outputs, probabilities, tuple(bad))


def _read_pair(header: str, output: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, OutputFileError | None]:
    """The 2020 ``PairReader``: an unreadable header stops the scorer, a malformed output file counts as all-negative."""
    labels = classes.encode_codes(read_dx_codes(header))
    try:
        return labels, *read_output(output), None
    except OutputFileError as exc:
        return labels, np.zeros(classes.NUM_CLASSES, dtype=bool), np.zeros(classes.NUM_CLASSES), exc


def load_directories(label_dir: str | Path, output_dir: str | Path) -> ScoringInput:
    """Read labels and outputs (C = 24); raises ``ScoringError`` on anything the scorer cannot score around."""
    return read_directories(label_dir, output_dir, classes.NUM_CLASSES, _read_pair)


def scores_text(values: Mapping[str, float]) -> str:
    """A scores file at full precision: the metric names (the keys, in order), then one line of values (repr, NaN as ``nan``).

    The official scorers write the same two lines with values rounded to 3 decimals.
    """
    return ",".join(values) + "\n" + ",".join(repr(float(value)) for value in values.values()) + "\n"


def run_command(description: str, load: Callable[[Path, Path], ScoringInput], texts: Callable[[ScoringInput], list[str]],
                files: Sequence[tuple[str, str]], argv: list[str] | None = None) -> int:
    """The body of a scorer command ``LABEL_DIR OUTPUT_DIR [FILE ...]``; its exit status.

    ``load`` reads the two directories, ``texts`` gives the files' contents from what it read,
    one per entry of ``files`` (argument name, help). Prints the first text and writes each
    given FILE atomically. Status 1, with one line naming the problem and no file written
    when nothing can be scored; malformed outputs are one warning line each.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("label_dir", type=Path, help="directory of NAME.hea label files (#Dx lines)")
    parser.add_argument("output_dir", type=Path, help="directory of NAME.csv model outputs")
    for name, help_text in files:
        parser.add_argument(name, type=Path, nargs="?", help=help_text)
    args = parser.parse_args(argv)
    try:
        data = load(args.label_dir, args.output_dir)
    except ScoringError as exc:
        print(f"error: {exc}; no scores written", file=sys.stderr)
        return 1
    for problem in data.bad_outputs:
        print(f"warning: {problem}; counted as all-negative", file=sys.stderr)
    contents = texts(data)
    for (name, _), text in zip(files, contents, strict=True):
        path = getattr(args, name)
        if path is not None:
            try:
                atomic_write_text(path, text)
            except OSError as exc:
                print(f"error: cannot write {path} ({exc.strerror or exc})", file=sys.stderr)
                return 1
    print(contents[0], end="")
    return 0


def score_directories(label_dir: str | Path, output_dir: str | Path) -> dict[str, float]:
    """The seven official metrics (``metrics.METRIC_NAMES`` order); malformed outputs are logged."""
    data = load_directories(label_dir, output_dir)
    for problem in data.bad_outputs:
        logger.warning("%s; counted as all-negative", problem)
    return metrics.compute_all(data.labels, data.outputs, data.probabilities)
