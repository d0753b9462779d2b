"""``python -m ecgnet classify MODEL_DIR INPUT... [--out FILE.csv|FILE.json] [--force]``: the ECGs people have, classified.

INPUTs are files, folders (searched at any depth) and glob patterns (``records.formats.find_inputs``),
each file a WFDB record, a DICOM ECG, a GE MUSE XML or an HL7 aECG file (``records.formats.read_any``).
Each is read and checked as ``driver.py`` reads a record, then classified by the model
directory's ensemble (``Ensemble.predict_record``: the fold models' vote and mean probability).

The table: one row per input file, in the order found. A classified row gives the record's
name, its diagnoses (the classes output, most probable first: SNOMED CT codes, abbreviations
and names, ``; ``-separated in CSV) and every scored class's probability (CSV: one column per
class, named by its abbreviation; JSON: ``probabilities`` by abbreviation, and a ``classes``
table of codes and names), plus what the reader repaired (``warnings``). A file that cannot be
read or classified is a ``failed`` row with the reason (``error``), also logged on stderr, and
the others are classified all the same. Without ``--out`` the CSV goes to stdout (logs and
progress go to stderr). An existing ``--out`` file is never replaced without ``--force``; the
file is written atomically, once every input is done.

Exit status: 0 when every file was classified, 1 when any failed, 2 for a bad model
directory, an ``--out`` that exists or is not ``.csv``/``.json``, or inputs that name no file.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from ecgnet.challenge.classes import ClassSet
from ecgnet.console import progress
from ecgnet.errors import RecordError
from ecgnet.fileio import atomic_write_text, write_csv
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.predict import load_model
from ecgnet.records.formats import find_inputs, read_any

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".csv", ".json")
FIRST_COLUMNS = ("path", "record", "status", "error", "codes", "abbreviations", "names", "warnings")


@dataclass(frozen=True)
class Row:
    """One input file's answer: ``labels`` (C,) bool and ``scores`` (C,) float in the model's class order, or the ``error``."""

    path: Path
    record: str = ""
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    warnings: tuple[str, ...] = ()
    error: str = ""

    @property
    def diagnoses(self) -> list[int]:
        """Indices of the classes output, most probable first (none for a failed row)."""
        if self.labels is None:
            return []
        return sorted(np.flatnonzero(self.labels).tolist(), key=lambda i: -self.scores[i])


def classify_files(model: Ensemble, paths: Iterable[Path]) -> Iterator[Row]:
    """A ``Row`` per file, as each is classified; a file that fails is logged (ERROR) and answered with its reason.

    A model of reduced lead sets reads a file of any leads it can (``Ensemble.lead_set_for``); a twelve-lead model needs all twelve.
    """
    for path in paths:
        try:
            record = read_any(path, gain_policy=model.config.gain_policy, all_leads=not model.config.lead_presence)
            _, dropped = model.lead_set_for(record.leads, path)
            labels, scores = model.predict_record(record, record.leads)
        except Exception as error:  # noqa: BLE001 - one bad file must not cost the others
            reason = error.reason if isinstance(error, RecordError) else f"unexpected {type(error).__name__}: {error}"
            log.error("%s: %s", path, reason)
            yield Row(path, error=reason)
            continue
        warnings = (*record.warnings, *([dropped] if dropped else []))
        for warning in warnings:  # repairs and dropped leads are never silent
            log.warning("%s: %s", path, warning)
        yield Row(path, record.name, np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64), warnings)


def csv_table(rows: Sequence[Row], classes: ClassSet) -> tuple[list[str], list[list[str]]]:
    """The CSV's header (``FIRST_COLUMNS``, then one probability column per abbreviation of ``classes``) and lines."""
    codes, names = classes.codes, classes.abbreviations
    lines = []
    for row in rows:
        found = row.diagnoses
        probabilities = [repr(float(p)) for p in row.scores] if row.scores is not None else [""] * len(codes)
        lines.append([str(row.path), row.record, "failed" if row.error else "classified", row.error,
                      "; ".join(codes[i] for i in found), "; ".join(names[i] for i in found),
                      "; ".join(classes.description(codes[i]) for i in found), "; ".join(row.warnings), *probabilities])
    return [*FIRST_COLUMNS, *names], lines


def json_table(rows: Sequence[Row], classes: ClassSet) -> dict:
    """The JSON document: the ``classes`` (code, abbreviation, name) and one object per file."""
    codes, names = classes.codes, classes.abbreviations
    records = []
    for row in rows:
        entry = {"path": str(row.path), "record": row.record, "status": "failed" if row.error else "classified", "error": row.error,
                 "diagnoses": [{"code": codes[i], "abbreviation": names[i], "name": classes.description(codes[i]),
                                "probability": float(row.scores[i])} for i in row.diagnoses],
                 "probabilities": {} if row.scores is None else dict(zip(names, map(float, row.scores))),
                 "warnings": list(row.warnings)}
        records.append(entry)
    table = [{"code": code, "abbreviation": name, "name": classes.description(code)} for code, name in zip(codes, names)]
    return {"classes": table, "records": records}


def write_table(rows: Sequence[Row], out: Path | None, classes: ClassSet) -> None:
    """The table of ``classes`` to ``out`` (CSV or JSON by its suffix, written atomically), or as CSV to stdout when ``out`` is None."""
    if out is not None and out.suffix.lower() == ".json":
        atomic_write_text(out, json.dumps(json_table(rows, classes), indent=1) + "\n")
        return
    header, lines = csv_table(rows, classes)
    if out is not None:
        write_csv(out, header, lines)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerows([header, *lines])


def output_problem(out: Path | None, force: bool) -> str | None:
    """Why ``--out`` cannot be written (checked before any work), or None."""
    if out is None:
        return None
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        return f"{out}: --out must end in .csv or .json"
    if out.exists() and not force:
        return f"{out}: exists; give another --out, or --force to replace it"
    if not out.parent.is_dir():
        return f"{out.parent}: no such folder for --out"
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``classify`` sub-command's arguments: the model directory, the inputs, ``--out`` and ``--force``."""
    parser.add_argument("model_dir", type=Path, help="a model directory (train_model.py, demo, cv)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="ECG files (WFDB .hea/.mat/.dat, DICOM .dcm, GE MUSE or HL7 aECG .xml), folders (searched at any "
                             "depth) or glob patterns (quote them: '**' reaches sub-folders)")
    parser.add_argument("--out", type=Path, help="write the table to FILE.csv or FILE.json (default: CSV on stdout)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    """Classify every input file and write the table; the exit status (0 all classified, 1 some failed, 2 nothing done)."""
    problem = output_problem(args.out, args.force)
    if problem:
        log.error("%s", problem)
        return 2
    paths = find_inputs(args.inputs)
    if not paths:
        log.error("no ECG files in %s (looked for .hea, .dcm and .xml files at any depth)", ", ".join(args.inputs))
        return 2
    model = load_model(args.model_dir)
    with logging_redirect_tqdm():
        rows = list(progress(classify_files(model, paths), desc="files", total=len(paths), unit="file"))
    write_table(rows, args.out, model.config.classes)
    failed = [row for row in rows if row.error]
    log.info("%d of %d file(s) classified%s", len(rows) - len(failed), len(rows), f" into {args.out}" if args.out else "")
    if failed:
        log.error("%d of %d file(s) failed:\n  %s", len(failed), len(rows), "\n  ".join(f"{row.path}: {row.error}" for row in failed))
    return 1 if failed else 0
