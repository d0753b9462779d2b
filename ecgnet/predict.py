"""Classifying a directory of records: what ``driver.py`` and the demo run.

``classify(model, data, header_data)`` is the body of the contract's
``run_12ECG_classifier``; ``predict_directory`` loops it over a directory the way the
official 2020 driver does (``loadmat(f)['val']`` as float64 plus the header's lines),
so its files are byte-identical to per-record calls of the official interface. On top:

- the next records are read in a background thread while the current one is classified;
- files are written atomically (``outputs.write_output``): no half-written CSV after a crash;
- a record that cannot be read or classified never stops the run: one log line names the
  file and the reason, the others go on, and the failures are returned (and listed); a
  header without its ``.mat`` counts as such a failure (the official driver skips it);
- an existing output file whose content differs is never replaced silently: each
  replacement is logged with the file's name, and counted at the end.
"""
from __future__ import annotations

import io
import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from .classes import CLASSES, NORMAL_INDEX
from .device import set_threads
from .ensemble import Ensemble
from .errors import ModelDirError, RecordError
from .fileio import temporary_files
from .header import read_header_text
from .outputs import format_output, write_output
from .progress import progress
from .records import load_mat, record_files, record_from_arrays

log = logging.getLogger(__name__)

LOOKAHEAD = 4  # records read ahead of the model: hides file reading, keeps memory flat


def record_name(header_data) -> str:
    """The record's name from its header lines (``NAME`` or ``NAME.mat`` on line 1)."""
    lines = header_data.splitlines() if isinstance(header_data, str) else list(header_data)
    first = lines[0].split() if lines and lines[0].split() else ["<record>"]
    return first[0].removesuffix(".mat")


def load_model(model_dir: str | Path) -> Ensemble:
    """``load_12ECG_model``'s contract: the validated ensemble, threads set, precision from ``$ECGNET_PRECISION``."""
    model = Ensemble.load(model_dir, precision=os.environ.get("ECGNET_PRECISION") or None)
    set_threads(model.config.threads)
    return model


def classify(model: Ensemble, data: np.ndarray, header_data) -> tuple[list[int], list[float], list[str]]:
    """``run_12ECG_classifier``'s contract: raw ``val`` counts + header lines -> (labels, scores, classes).

    Plain ints and floats, so the official driver's ``str()`` of them equals our files.
    """
    record = record_from_arrays(data, header_data, where=record_name(header_data), gain_policy=model.config.gain_policy)
    for warning in record.warnings:  # repairs (e.g. a wrong source-wide gain): once per file, never silent
        log.warning("%s: %s", record.name, warning)
    labels, scores = model.predict_record(record)
    return [int(x) for x in labels], [float(x) for x in scores], list(CLASSES)


def classify_or_fallback(model: Ensemble, data: np.ndarray, header_data) -> tuple[list[int], list[float], list[str]]:
    """``classify``, but a record that cannot be classified gets the normal class instead of an exception.

    The organisers' own driver stops at the first exception, and their scorer then stops
    at the missing output file: one bad record would cost the whole test set. So the
    contract's ``run_12ECG_classifier`` logs the reason and answers "sinus rhythm" (the
    challenge metric's inactive prediction, scoring as if nothing were said). Our
    ``driver.py`` calls ``classify`` and reports such records as failures instead.
    """
    try:
        return classify(model, data, header_data)
    except Exception as error:  # noqa: BLE001 - see above: nothing may escape to the organisers' loop
        log.error("%s: %s; answered the normal class (%s) instead", record_name(header_data), _error_text(error), CLASSES[NORMAL_INDEX])
        labels = [int(i == NORMAL_INDEX) for i in range(len(CLASSES))]
        return labels, [float(x) for x in labels], list(CLASSES)


def load_challenge_data(mat_path: Path) -> tuple[np.ndarray, list[str]]:
    """What the official driver hands ``run_12ECG_classifier``: float64 ``val`` and the header's lines.

    ``val`` is checked first (``records.load_mat``): the official ``np.asarray(..., float64)``
    would silently drop a complex signal's imaginary part and fail on garbage with scipy's
    own words; here each gets a ``RecordError`` that says what is wrong.
    """
    header_path = mat_path.with_suffix(".hea")
    if not header_path.is_file():
        raise RecordError(mat_path, f"header file {header_path.name} is missing")
    data = np.asarray(load_mat(mat_path), dtype=np.float64)
    # Universal newlines, as the official driver's text-mode readlines().
    return data, io.StringIO(read_header_text(header_path), newline=None).readlines()


def input_files(input_dir: Path) -> list[Path]:
    """The ``.mat`` files of a directory and its sub-folders, sorted by record name (``records.record_files``).

    Raises ``RecordError`` for a name found twice, and for a directory holding no
    record at all (neither ``.mat`` nor ``.hea`` files).
    """
    files = record_files(input_dir, ".mat")
    if not files and not record_files(input_dir, ".hea"):
        raise RecordError(input_dir, "no records here: no NAME.mat or NAME.hea file in this folder or its sub-folders")
    return files


def headers_without_signal(input_dir: Path, files: list[Path]) -> list[Path]:
    """The ``.hea`` files with no ``.mat`` of the same record: records the official driver would skip without a word."""
    stems = {p.stem for p in files}
    return [p for p in record_files(input_dir, ".hea") if p.stem not in stems]


def _read_ahead(reader: ThreadPoolExecutor, files: list[Path]) -> Iterator[tuple[Path, Future]]:
    pending: deque[tuple[Path, Future]] = deque()
    queue = iter(files)
    for path in queue:
        pending.append((path, reader.submit(load_challenge_data, path)))
        if len(pending) >= LOOKAHEAD:
            break
    while pending:
        yield pending.popleft()
        for path in queue:
            pending.append((path, reader.submit(load_challenge_data, path)))
            break


def _error_text(error: BaseException) -> str:
    """One line saying what is wrong; the log line names the file, so a ``RecordError``'s own prefix is dropped."""
    text = error.reason if isinstance(error, RecordError) else f"unexpected {type(error).__name__}: {error}"
    return " ".join(text.split())


def predict_directory(model_dir: str | Path, input_dir: str | Path, output_dir: str | Path, model: Ensemble | None = None) -> list[str]:
    """Write ``OUTPUT_DIR/NAME.csv`` for every ``INPUT_DIR/NAME.mat``; returns the files that failed."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such input directory")
    files = input_files(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = model or load_model(model_dir)
    for leftover in temporary_files(output_dir, "*.csv"):  # ours: a write that a killed run never renamed into place
        log.warning("%s: removed the temporary file of an interrupted earlier run", leftover)
        leftover.unlink(missing_ok=True)
    failures: list[str] = []
    for header_path in headers_without_signal(input_dir, files):
        log.error("%s: signal file %s is missing", header_path, header_path.with_suffix(".mat").name)
        failures.append(str(header_path))
    total = len(files) + len(failures)
    replaced = 0
    # Log lines go through tqdm while its bar is shown, else they are glued to the bar's last state.
    with ThreadPoolExecutor(max_workers=1) as reader, logging_redirect_tqdm():
        for mat_path, future in progress(_read_ahead(reader, files), desc="records", total=len(files), unit="record"):
            try:
                data, header_data = future.result()
                labels, scores, classes = classify(model, data, header_data)
                name = mat_path.stem
                output = output_dir / f"{name}.csv"
                text = format_output(name, classes, labels, scores)
                if output.is_file() and output.read_text(encoding="utf-8", errors="replace") != text:
                    log.warning("%s: existed with other content; replaced by this run's output", output)
                    replaced += 1
                write_output(output, name, classes, labels, scores)
            except Exception as error:  # noqa: BLE001 - one bad record must not stop the others
                log.error("%s: %s", mat_path, _error_text(error))
                failures.append(str(mat_path))
                stale = output_dir / f"{mat_path.stem}.csv"
                if stale.is_file():
                    log.warning("%s: left as it was, from an earlier run: it is not this run's output for the failed record", stale)
    if replaced:
        log.warning("%d existing output file(s) in %s were replaced (listed above)", replaced, output_dir)
    log.info("%d of %d record(s) classified into %s", total - len(failures), total, output_dir)
    if failures:
        log.error("%d of %d record(s) failed:\n  %s", len(failures), total, "\n  ".join(failures))
    return failures


def main(model_dir: str, input_dir: str, output_dir: str) -> int:
    """``driver.py``'s body: exit status 1 when any record failed, after all others are written."""
    print("Loading 12ECG model...")
    try:
        model = load_model(model_dir)
    except ModelDirError as error:
        log.error("%s", error)
        return 2
    print("Extracting 12ECG features...")
    failures = predict_directory(model_dir, input_dir, output_dir, model=model)
    print("Done." if not failures else f"Done, but {len(failures)} record(s) failed (see the log above).")
    return 1 if failures else 0
