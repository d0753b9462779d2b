"""The per-record output file of the challenge (``NAME.csv``): writing and reading.

Format: a ``#NAME`` comment line, then three comma-separated lines: class codes,
binary outputs, probabilities. ``read_output`` applies the official 2020 scorer's
parsing rules exactly, because the scores must match the leaderboard's:

* blank lines and lines starting with ``#`` (anywhere) are skipped; CRLF and CR
  line ends are accepted;
* at least three data lines must remain and all of them must have the same
  number of comma-separated fields (so trailing commas are fine when every line
  has one, and a fourth data line is ignored only when it has the same width);
  otherwise the file is malformed (``OutputFileError``), which the scorer counts
  as all-negative with probability 0;
* columns are matched by code, in any order; unscored codes are ignored;
* after stripping spaces exactly ``1``, ``True``, ``true``, ``T`` and ``t`` are
  positive (``1.0``, ``TRUE`` or ``yes`` are not);
* a probability that is empty or not a number counts as 0; ``nan`` is kept;
* columns of the same class (an equivalent pair, or a repeated code) are merged:
  the binary output is their OR, the probability their NaN-ignoring mean, and a
  class whose probabilities are all NaN gets 0.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgnet.challenge import classes
from ecgnet.errors import OutputFileError
from ecgnet.fileio import atomic_write_text

POSITIVE_TOKENS = frozenset({"1", "True", "true", "T", "t"})


def _number(token: str) -> float:
    """``float(token)`` (which ignores surrounding spaces) or 0 when it is not a number."""
    try:
        return float(token)
    except ValueError:
        return 0.0


@lru_cache(maxsize=256)
def _column_plan(codes_line: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    """For a line of codes: (column, class index) of each scored column, and whether a class repeats.

    Output files of one model share their codes line, so this runs once per model.
    """
    indices = [classes.CLASS_INDEX.get(classes.canonical_code(token)) for token in codes_line.split(",")]
    columns = tuple((column, index) for column, index in enumerate(indices) if index is not None)
    repeats = len({index for _, index in columns}) < len(columns)
    return columns, repeats


def parse_output(text: str, where: str | Path = "<output>") -> tuple[np.ndarray, np.ndarray]:
    """Binary outputs (bool, 24) and probabilities (float, 24) from an output file's text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and stripped[0] != "#":
            data.append(line)
    if len(data) < 3:
        raise OutputFileError(where, f"{len(data)} data line(s); needs 3 (codes, binary outputs, probabilities)")
    widths = [line.count(",") + 1 for line in data]
    if len(set(widths)) != 1:
        raise OutputFileError(where, f"ragged lines: {', '.join(map(str, widths))} comma-separated fields")
    columns, repeats = _column_plan(data[0])
    binaries = data[1].split(",")
    probabilities = data[2].split(",")

    num_classes = classes.NUM_CLASSES
    positive = [False] * num_classes
    scores = [0.0] * num_classes
    if not repeats:
        for column, index in columns:
            positive[index] = binaries[column].strip() in POSITIVE_TOKENS
            value = _number(probabilities[column])
            scores[index] = 0.0 if math.isnan(value) else value  # a lone NaN: NaN-mean of nothing, read as 0
    else:
        total = [0.0] * num_classes
        count = [0] * num_classes
        for column, index in columns:
            if binaries[column].strip() in POSITIVE_TOKENS:
                positive[index] = True
            value = _number(probabilities[column])
            if not math.isnan(value):
                total[index] += value
                count[index] += 1
        for index in range(num_classes):
            mean = total[index] / count[index] if count[index] else 0.0
            scores[index] = 0.0 if math.isnan(mean) else mean  # inf - inf is NaN, read as 0
    return np.array(positive, dtype=bool), np.array(scores)


def read_output(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``NAME.csv``; raises ``OutputFileError`` when it is unreadable or malformed."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            chunks = []
            while chunk := os.read(descriptor, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise OutputFileError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputFileError(path, f"not UTF-8 text (byte {exc.start})") from None
    return parse_output(text, path)


def format_output(record_name: str, codes: Sequence[str], labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> str:
    """The text of an output file: ``#NAME``, then codes (C,), 0/1 labels (C,) and scores (C,), comma-separated.

    Scores are written at the shortest exact precision of their dtype. Empty answers
    (C = 0, a record that failed) give ``#NAME`` and three empty lines, as the organisers'
    drivers write them; both scorers count such a file as all-negative. Raises
    ``ValueError`` for a bad record name, unequal lengths or a code that would break the format.
    """
    codes = [str(code) for code in codes]
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if not record_name or any(ch in record_name for ch in "\r\n"):
        raise ValueError(f"bad record name {record_name!r}")
    if labels.ndim != 1 or scores.ndim != 1 or not len(codes) == labels.size == scores.size:
        raise ValueError(f"{record_name}: {len(codes)} codes, {labels.size} labels and {scores.size} scores must be equal 1-D lengths")
    bad = [code for code in codes if not code or any(ch in code for ch in ",\r\n#")]
    if bad:
        raise ValueError(f"{record_name}: class codes must be non-empty without ',', '#' or line breaks: {bad[:3]}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    return "\n".join(
        (
            f"#{record_name}",
            ",".join(codes),
            ",".join("1" if flag else "0" for flag in labels.astype(bool)),
            ",".join(str(value) for value in scores),
        )
    ) + "\n"


def write_output(path: str | Path, record_name: str, codes: Sequence[str], labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> None:
    """Write ``format_output``'s text to ``path`` atomically: a reader sees the old file or the complete new one, never a part."""
    atomic_write_text(path, format_output(record_name, codes, labels, scores), sync=False)
