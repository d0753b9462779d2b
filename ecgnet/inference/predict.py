"""Classifying records: the one per-record path of ``driver.py`` and ``run_12ECG_classifier``.

Per record, straight down: read (``load_challenge_data``: ``loadmat(f)['val']`` as float64
plus the header's lines, as the official 2020 driver; a WFDB record's counts from its
signal files), scale by the gains
(``records.reader.record_from_arrays``), resample, window, forward, vote and threshold
(``Ensemble.predict_record``), write (``outputs.write_output``). ``classify`` is the body of
the contract's ``run_12ECG_classifier``. ``predict_directory`` reads and scales each record
the same way (``scaled_record``), then classifies the records read so far together
(``Ensemble.predict_records``: up to ``config.inference_batch`` windows per forward pass),
so its labels equal per-record calls of the official interface and its scores equal them to
float tolerance (about 1e-7; the kernels' summation order depends on the batch size).

Lead sets: a twelve-lead model (every 2020 model) refuses a record without the twelve
leads, as the reader does; a model of reduced lead sets reads what a record has
(``records.reader.record_from_arrays(..., all_leads=False)``) through the largest of its
lead sets the record holds (``Ensemble.lead_set_for``), with one warning naming any lead
dropped, and fails a record holding none of them. The answers are the model's classes
(``config.Config.classes``: 2020's 24 or 2021's 26).

Failure policy (one, for both): a record that cannot be read or classified gets empty
answers ``([], [], [])`` and one log line naming the file and the reason. Empty answers,
written as the organisers' later harnesses do with ``allow_failures``, make an output
file with the record line and empty class, label and score lines, which the official
2020 scorer and ours both count as all-negative instead of refusing the folder for a
missing file. Answering a class instead would be an answer made from missing signal.
On top, ``predict_directory``:

- classifies every record ``records.files.find_records`` finds: ``NAME.mat`` files (with
  their headers, paired ignoring case) and WFDB records (a header and the signal files
  it names); a header without its signal file counts as a failure (the official driver
  skips it without a word), and so does a record name found twice (each copy's path
  listed), while every other record is classified;
- lists the failed files at the end (``main`` then exits 1);
- reads the next records in a background thread while the current ones are classified;
- writes each batch's files as soon as it is classified; when a batch fails, its records
  are classified one by one, so a bad record loses only its own answers;
- writes files atomically: no half-written CSV after a crash;
- never replaces an existing output file whose content differs silently: each
  replacement is logged with the file's name, and counted at the end;
- with ``skip_existing``, leaves out each record whose output file already holds answers
  (a failed record's empty answers do not count: it is tried again), so a stopped run
  started again with it classifies only what is left;
- under ``torchrun`` (``$WORLD_SIZE`` processes, on one machine or several), each process
  classifies its share of the records sorted by name (every ``WORLD_SIZE``-th, from its
  ``RANK``), on its own GPU where there are GPUs (``device.choose_device``), writing each
  file as it finishes; the processes then gather their failures, so every process
  returns the same list and process 0 logs one summary. The output files are those of
  one process (bench/RESULTS.md, "Inference over an archive").
"""
from __future__ import annotations

import io
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from ecgnet.console import progress
from ecgnet.device import barrier, gather, is_main_process, rank_and_world, set_threads, start_distributed
from ecgnet.errors import ModelDirError, OutputFileError, RecordError
from ecgnet.fileio import temporary_files
from ecgnet.inference.ensemble import Ensemble, LeadSetEnsembles, load_ensemble
from ecgnet.inference.outputs import format_output, read_output, write_output
from ecgnet.records.files import RecordFiles, find_records
from ecgnet.records.header import parse_header, read_header_text
from ecgnet.records.header import record_name as name_on_record_line
from ecgnet.records.reader import Record, header_of, load_signal, record_from_arrays
from ecgnet.signal import num_windows, resampled_length

log = logging.getLogger(__name__)

LOOKAHEAD = 4  # records read ahead of the model: hides file reading, keeps memory flat

Answers = tuple[list[int], list[float], list[str]]  # the contract's (labels, scores, classes)


def record_name(header_data) -> str:
    """The record's name from its header lines (``NAME`` or ``NAME.mat`` on line 1)."""
    lines = header_data.splitlines() if isinstance(header_data, str) else list(header_data)
    first = lines[0].split() if lines and lines[0].split() else ["<record>"]
    return name_on_record_line(first[0])


def load_model(model_dir: str | Path, leads: Sequence[str] | None = None) -> Ensemble | LeadSetEnsembles:
    """``load_12ECG_model``'s contract: the validated model (``ensemble.load_ensemble``), threads set, precision from
    ``$ECGNET_PRECISION``.

    With ``leads`` (2021's ``load_model(model_directory, leads)``): checked to read records
    of those leads (``Ensemble.lead_set_for``), the leads it drops logged once; of a model
    of one ensemble per lead set, only that set's ensemble. A ``ModelDirError`` saying
    which leads it reads when it cannot.
    """
    model = load_ensemble(model_dir, precision=os.environ.get("ECGNET_PRECISION") or None)
    set_threads(model.config.threads)
    if leads is None:
        return model
    try:
        chosen, dropped = model.lead_set_for(leads, model_dir)
    except RecordError as error:
        raise ModelDirError(f"{model_dir}: cannot classify records of leads {', '.join(leads)}: {error.reason}") from None
    log.info("%s: records of leads %s are read through the lead set %s", model_dir, ",".join(leads), ",".join(chosen))
    if dropped:
        log.warning("%s: records of leads %s are %s", model_dir, ",".join(leads), dropped)
    return model.members[chosen] if isinstance(model, LeadSetEnsembles) else model


def classify(model: Ensemble, data: np.ndarray, header_data, where: str | Path | None = None) -> Answers:
    """``run_12ECG_classifier``'s contract: raw ``val`` counts (leads, N) + header lines -> (labels, scores, classes).

    ``data`` holds the header's leads in the header's order (twelve for a 2020 model).
    ``labels`` are 0/1 ints, ``scores`` floats in [0, 1] (plain Python types, so the
    official driver's ``str()`` of them equals our files), ``classes`` the model's SNOMED
    CT codes (24 for 2020). Never raises: a record that cannot be classified gets
    ``([], [], [])`` and one ERROR line naming ``where`` (default: the header's record
    name) and the reason.
    """
    try:
        where = where or record_name(header_data)
        record = scaled_record(model, data, header_data, where)
        outputs, scores = model.predict_record(record, record.leads)
    except Exception as error:  # noqa: BLE001 - the organisers' driver stops at the first exception
        return failed(where or "<record>", error)
    return as_answers(model, outputs, scores)


def scaled_record(model: Ensemble, data: np.ndarray, header_data, where: str | Path) -> Record:
    """The checked ``Record`` in mV of raw ``val`` counts and header lines, with the leads ``model`` reads (the module's
    docstring); raises ``RecordError`` naming ``where``."""
    record = record_from_arrays(data, header_data, where=str(where), gain_policy=model.config.gain_policy,
                                all_leads=not model.config.lead_presence)
    _, dropped = model.lead_set_for(record.leads, where)
    for warning in (*record.warnings, *([dropped] if dropped else [])):  # repairs, leads dropped: once per file, never silent
        log.warning("%s: %s", record.name, warning)
    return record


def as_answers(model: Ensemble, outputs: np.ndarray, scores: np.ndarray) -> Answers:
    """One record's (labels 0/1 ints, scores floats, the model's classes) as plain Python values, so ``str()`` of them is exact."""
    return [int(x) for x in outputs], [float(x) for x in scores], list(model.config.classes.codes)


def failed(where: str | Path, error: BaseException) -> Answers:
    """The failure policy: one ERROR line naming ``where`` and the reason, and empty answers ``([], [], [])``."""
    log.error("%s: %s; answered with empty outputs (scored as all-negative)", where, _error_text(error))
    return [], [], []


def load_challenge_data(path: Path) -> tuple[np.ndarray, list[str]]:
    """What the official driver hands ``run_12ECG_classifier``: ``val`` (12, N) float64 counts and the header's lines.

    ``path`` names any file of the record (``records.reader.header_of``). The counts are
    ``NAME.mat``'s ``val``, or a WFDB record's counts from its signal files
    (``records.reader.load_signal``), checked first: the official ``np.asarray(..., float64)``
    would silently drop a complex signal's imaginary part and fail on garbage with scipy's
    own words; here each gets a ``RecordError`` that says what is wrong.
    """
    header_path = header_of(path)
    text = read_header_text(header_path)
    counts, _ = load_signal(header_path, parse_header(text, header_path))
    # Universal newlines, as the official driver's text-mode readlines().
    return np.asarray(counts, dtype=np.float64), io.StringIO(text, newline=None).readlines()


def _read_ahead(reader: ThreadPoolExecutor, records: list[RecordFiles]) -> Iterator[tuple[RecordFiles, Future]]:
    """(record, future of ``load_challenge_data``) in order, with at most ``LOOKAHEAD`` reads ahead of the consumer."""
    pending: deque[tuple[RecordFiles, Future]] = deque()
    for files in records:
        pending.append((files, reader.submit(load_challenge_data, files.path)))
        if len(pending) > LOOKAHEAD:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def _error_text(error: BaseException) -> str:
    """One line saying what is wrong; the log line names the file, so a ``RecordError``'s own prefix is dropped."""
    text = error.reason if isinstance(error, RecordError) else f"unexpected {type(error).__name__}: {error}"
    return " ".join(text.split())


def _scaled_file(model: Ensemble, files: RecordFiles, loaded: Future) -> Record | Answers:
    """The record read (already submitted as ``loaded``) and scaled, or the failure's empty answers."""
    try:
        data, header_data = loaded.result()
        return scaled_record(model, data, header_data, files.path)
    except Exception as error:  # noqa: BLE001 - one bad record must not stop the others
        return failed(files.path, error)


def _classify_batch(model: Ensemble, batch: list[tuple[RecordFiles, Record]]) -> list[tuple[RecordFiles, Answers]]:
    """Every record's answers from shared forward passes; one record at a time when that fails, to isolate the bad one."""
    if len(batch) > 1:
        try:
            outputs, scores = model.predict_records([record for _, record in batch], [record.leads for _, record in batch])
            return [(files, as_answers(model, o, s)) for (files, _), o, s in zip(batch, outputs, scores)]
        except Exception as error:  # noqa: BLE001 - the retry below logs the record at fault by name
            log.info("a batch of %d records failed (%s); classifying them one by one", len(batch), _error_text(error))
    return [(files, _classify_alone(model, files.path, record)) for files, record in batch]


def _classify_alone(model: Ensemble, path: Path, record: Record) -> Answers:
    try:
        return as_answers(model, *model.predict_record(record, record.leads))
    except Exception as error:  # noqa: BLE001 - one bad record must not stop the others
        return failed(path, error)


def _answered(model: Ensemble, loading: Iterator[tuple[RecordFiles, Future]]) -> Iterator[tuple[RecordFiles, Answers]]:
    """(record, answers) as each finishes: a failed read at once, records in batches of at most ``inference_batch`` windows.

    A record with more windows than that is a batch of its own (``fold_probabilities``
    still bounds each forward pass), so the records held here stay bounded too.
    """
    bound = max(1, model.config.inference_batch)
    batch: list[tuple[RecordFiles, Record]] = []
    held = 0
    for files, loaded in loading:
        item = _scaled_file(model, files, loaded)
        if not isinstance(item, Record):
            yield files, item
            continue
        windows = num_windows(resampled_length(item.signal.shape[1], item.fs), model.config.window, model.config.overlap)
        if batch and held + windows > bound:
            yield from _classify_batch(model, batch)
            batch, held = [], 0
        batch.append((files, item))
        held += windows
    if batch:
        yield from _classify_batch(model, batch)


def _write(output_dir: Path, name: str, answers: Answers) -> bool:
    """Write ``OUTPUT_DIR/NAME.csv`` atomically; True (and a warning naming it) when it replaced other content."""
    labels, scores, classes = answers
    output = output_dir / f"{name}.csv"
    replaced = output.is_file() and output.read_text(encoding="utf-8", errors="replace") != format_output(name, classes, labels, scores)
    if replaced:
        log.warning("%s: existed with other content; replaced by this run's output", output)
    write_output(output, name, classes, labels, scores)
    return replaced


def _remove_leftovers(output_dir: Path) -> None:
    for leftover in temporary_files(output_dir, "*.csv"):  # ours: a write that a killed run never renamed into place
        log.warning("%s: removed the temporary file of an interrupted earlier run", leftover)
        leftover.unlink(missing_ok=True)


def has_answers(output: Path) -> bool:
    """Whether ``output`` is a readable output file naming at least one class (a failed record's has none)."""
    try:
        return output.is_file() and read_output(output)[0].size > 0
    except OutputFileError:  # a failed record's file (no data lines), or one that is not ours
        return False


def predict_directory(model_dir: str | Path, input_dir: str | Path, output_dir: str | Path, model: Ensemble | None = None,
                      skip_existing: bool = False) -> list[str]:
    """Write ``OUTPUT_DIR/NAME.csv`` for every record of ``INPUT_DIR`` (``NAME.mat`` or WFDB; empty answers where it failed).

    Returns the files that failed (both paths of a name found twice), also listed in
    the log at the end; under ``torchrun``, those of every process. Raises
    ``FileNotFoundError`` when ``input_dir`` is not a directory, ``RecordError`` when it
    holds no record.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such input directory")
    found = find_records(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = model or load_model(model_dir)
    start_distributed(torch.device("cpu"))  # a gloo group for the failures' summary only: each process classifies alone
    share, shares = rank_and_world()
    if is_main_process():
        _remove_leftovers(output_dir)
    barrier()  # before any process writes: process 0 removes only an earlier run's temporary files
    records, skipped = [], 0
    for record in found.records[share::shares]:  # one pass: an archive's share is hundreds of thousands of records
        if skip_existing and has_answers(output_dir / f"{record.name}.csv"):
            skipped += 1
        else:
            records.append(record)
    failures: list[str] = []
    replaced = 0
    for clash in found.clashes if is_main_process() else []:
        replaced += _write(output_dir, clash.name, failed(clash.paths[0], clash.error))
        failures.append(" and ".join(str(path) for path in clash.paths))
    # Log lines go through tqdm while its bar is shown, else they are glued to the bar's last state.
    with ThreadPoolExecutor(max_workers=1) as reader, logging_redirect_tqdm():
        bar = progress(_answered(model, _read_ahead(reader, records)), desc="records", total=len(records), unit="record")
        for files, answered in bar:
            if not answered[2]:
                failures.append(str(files.path))
            replaced += _write(output_dir, files.name, answered)
    shared = gather((failures, replaced, skipped))
    failures = [failure for share_failures, _, _ in shared for failure in share_failures]
    replaced, skipped_count = sum(r for _, r, _ in shared), sum(s for _, _, s in shared)
    total = len(found.records) + len(found.clashes) - skipped_count
    if not is_main_process():
        return failures
    if replaced:
        log.warning("%d existing output file(s) in %s were replaced (listed above)", replaced, output_dir)
    if skipped_count:
        log.info("%d record(s) skipped: their output files already hold answers (skip_existing)", skipped_count)
    log.info("%d of %d record(s) classified into %s%s", total - len(failures), total, output_dir,
             f" by {shares} processes" if shares > 1 else "")
    if failures:
        log.error("%d of %d record(s) failed:\n  %s", len(failures), total, "\n  ".join(sorted(failures)))
    return failures


def main(model_dir: str, input_dir: str, output_dir: str, skip_existing: bool = False) -> int:
    """``driver.py``'s body: exit status 1 when any record failed (after all outputs are written), 2 for a bad model directory."""
    print("Loading 12ECG model...")
    try:
        model = load_model(model_dir)
    except ModelDirError as error:
        log.error("%s", error)
        return 2
    print("Extracting 12ECG features...")
    failures = predict_directory(model_dir, input_dir, output_dir, model=model, skip_existing=skip_existing)
    print("Done." if not failures else f"Done, but {len(failures)} record(s) failed (see the log above).")
    return 1 if failures else 0
