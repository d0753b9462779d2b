"""`python -m ecgnet review RESULTS_DIR --class LAD --out DIR`: a blinded ECG review packet for clinicians.

The seed paper's label-quality study (Zhao et al., Physiol. Meas. 2022): two clinicians
re-read 100 misclassified left-axis-deviation ECGs without seeing the label or the
network's output. This draws such a sample from a cv results directory and writes::

    OUT/packet/review.html        hand this to the raters: one 12-lead page per case,
                                  images embedded (base64 PNG), opens in any browser
    OUT/packet/rating_sheet.csv   blank sheet: case, class, present (yes/no/unsure), comment
    OUT/key/key.csv               keep apart: case -> record, source, fold, label, output, probability
    OUT/key/draw.json             how the sample was drawn (results dir, kind, seed, skipped records)

The packet shows an anonymous case number only: no record name, label, prediction or
probability, in the page or in the PNGs' metadata (their text chunks are dropped).
Kinds: ``misclassified`` (label != thresholded output for the class: false positives and
false negatives together, the paper's choice), ``random`` (any record), ``label-issues``
(the most doubtful labels of the class in ``label_issues.csv``, rank 1 first). Case
numbers follow a seeded shuffle, so their order says nothing about the kind of error.
An unreadable record is logged and replaced by the next candidate. Each page shows the
first 10 s of the record (the paper ECG's length); a shorter record fills what it has.
"""
from __future__ import annotations

import argparse
import base64
import csv
import html
import json
import logging
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.analysis.labelissues import LABEL_ISSUES_FILE
from ecgnet.challenge.classes import ClassSet, class_argument, class_in
from ecgnet.console import progress
from ecgnet.errors import AnalysisError, RecordError
from ecgnet.fileio import OOF_FILE, SUMMARY_FILE, OutOfFold, atomic_write_text, read_oof, read_summary, write_csv
from ecgnet.records.files import record_headers
from ecgnet.records.reader import read_record

log = logging.getLogger(__name__)

KINDS = ("misclassified", "random", "label-issues")
PACKET_DIR, KEY_DIR = "packet", "key"
PACKET_FILE, SHEET_FILE, KEY_FILE, DRAW_FILE = "review.html", "rating_sheet.csv", "key.csv", "draw.json"
LABEL_ISSUES_COLUMNS = ("record", "class", "code", "given_label", "probability", "label_quality", "rank")
SHEET_COLUMNS = ("case", "class", "present", "comment")
KEY_COLUMNS = ("case", "record", "source", "fold", "class", "code", "label", "output", "probability")
RATINGS = ("yes", "no", "unsure")
PAGE_S = 10.0  # seconds of signal on a page: plot.plot_12lead draws the first 10 s
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Results:
    """A cv results directory as the review needs it."""

    path: Path
    oof: OutOfFold
    data_dir: Path
    gain_policy: str


def load_results(results_dir: Path, data_dir: Path | None = None) -> Results:
    """Read ``oof_predictions.csv`` and ``summary.json``; ``data_dir`` overrides where the records are.

    Raises ``NotADirectoryError`` / ``AnalysisError`` naming the path when it is not a cv results directory.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise NotADirectoryError(f"{results_dir}: no such directory (expected a cv results directory)")
    for name in (OOF_FILE, SUMMARY_FILE):
        if not (results_dir / name).is_file():
            hint = (f"it holds records: cross-validate them first with `python -m ecgnet cv {results_dir} --out RESULTS_DIR`"
                    if any(results_dir.glob("*.hea")) else f"make one with `python -m ecgnet cv DATA_DIR --out {results_dir}`")
            raise AnalysisError(f"{results_dir}: not a cv results directory ({name} is missing); {hint}")
    try:
        oof, summary = read_oof(results_dir), read_summary(results_dir)
    except (ValueError, KeyError) as error:
        raise AnalysisError(f"{results_dir}: unreadable cv results: {error}") from error
    if data_dir is None and not summary.get("data_dir"):
        raise AnalysisError(f"{results_dir / SUMMARY_FILE}: names no data_dir; give the records' folder with --data DIR")
    records = Path(data_dir or summary["data_dir"])
    if not records.is_dir():
        raise AnalysisError(f"{results_dir}: its records were in {records}, which is not a directory now; "
                            "give their new place with --data DIR")
    return Results(results_dir, oof, records, summary.get("config", {}).get("gain_policy", "auto"))


def _label_issue_order(results_dir: Path, oof: OutOfFold, c: int) -> np.ndarray:
    """Rows of ``oof`` for class ``c`` in the order of ``label_issues.csv``'s rank (most doubtful first)."""
    path = results_dir / LABEL_ISSUES_FILE
    if not path.is_file():
        raise AnalysisError(f"{path}: no label-issue ranking here; run `python -m ecgnet label-issues {results_dir}` first")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in LABEL_ISSUES_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise AnalysisError(f"{path}: columns {missing} are missing (expected {', '.join(LABEL_ISSUES_COLUMNS)})")
        rows = [r for r in reader if oof.classes.canonical_code(r["code"]) == oof.classes.codes[c]]
    try:
        rows.sort(key=lambda r: int(r["rank"]))
    except ValueError as error:
        raise AnalysisError(f"{path}: a rank that is not a whole number ({error})") from error
    position = {name: i for i, name in enumerate(oof.records)}
    unknown = [r["record"] for r in rows if r["record"] not in position]
    if unknown:
        raise AnalysisError(f"{path}: records {unknown[:5]} are not in {OOF_FILE}: ranked on other cv results?")
    return np.array([position[r["record"]] for r in rows], dtype=int)


def candidates(results: Results, c: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Rows of the out-of-fold table to draw from, in the order they are taken (the first readable ones win)."""
    oof = results.oof
    if kind == "misclassified":
        return rng.permutation(np.flatnonzero(oof.labels[:, c] != oof.outputs[:, c]))
    if kind == "random":
        return rng.permutation(len(oof.records))
    if kind == "label-issues":
        return _label_issue_order(results.path, oof, c)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def strip_png_metadata(png: bytes) -> bytes:
    """The PNG with only its critical chunks (IHDR, PLTE, IDAT, IEND): no text, time or software tags.

    PNG chunk layout: 4-byte length, 4-byte type, data, 4-byte CRC (ISO/IEC 15948, section 5.3);
    a chunk is ancillary when the first letter of its type is lower case.
    """
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    kept, at = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        chunk = png[at:at + 12 + length]
        if chunk[4:5].isupper():
            kept.append(chunk)
        at += 12 + length
    return b"".join(kept)


def _readable(results: Results, rows: np.ndarray, n: int) -> tuple[list[tuple[int, np.ndarray, float]], list[dict]]:
    """The first ``n`` rows whose records read cleanly, as (row, signal in mV, fs); the others with their reason."""
    taken: list[tuple[int, np.ndarray, float]] = []
    skipped: list[dict] = []
    try:
        headers, unavailable = record_headers(results.data_dir), None
    except RecordError as error:  # every record is then skipped, each with this reason
        headers, unavailable = {}, error
    for row in rows:
        if len(taken) == n:
            break
        name = results.oof.records[row]
        try:
            if name not in headers:
                raise unavailable or RecordError(results.data_dir, f"record {name} is not in this folder or its sub-folders")
            record = read_record(headers[name], gain_policy=results.gain_policy)
        except (RecordError, OSError) as error:
            log.warning("skipped %s: %s", name, error)
            skipped.append({"record": name, "reason": str(error)})
            continue
        # Only the page's 10 s are kept: 100 long records (PTB: 111 s at 1000 Hz) would hold gigabytes.
        taken.append((int(row), record.signal[:, : int(round(PAGE_S * record.fs))], record.fs))
    return taken, skipped


def render_case(signal_mv: np.ndarray, fs: float, case: int, workdir: Path) -> bytes:
    """One case as a standard 12-lead paper ECG (``plot.plot_12lead``), titled by its case number only."""
    from ecgnet.analysis.plot import plot_12lead

    path = plot_12lead(signal_mv, fs, f"Case {case}", Path(workdir) / f"case_{case}.png")
    png = path.read_bytes()
    path.unlink()
    return strip_png_metadata(png)


def packet_html(classes: ClassSet, c: int, images: list[bytes]) -> str:
    """The self-contained review page for class index ``c`` of ``classes``: instructions, then case k's image (base64 PNG)
    for k = 1..len(images)."""
    name = f"{html.escape(classes.description(classes.codes[c]))} ({html.escape(classes.abbreviations[c])})"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>ECG review: {name}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}section{page-break-after:always;margin-bottom:3em}"
        "img{width:100%;height:auto;border:1px solid #ccc}.q{font-size:1.1em}</style></head><body>",
        f"<h1>Blinded ECG review: {name}</h1>",
        f"<p>{len(images)} cases, each a standard 12-lead ECG at 25 mm/s and 10 mm/mV with a 1 mV calibration pulse "
        "per row (three rows of 2.5 s, then a 10-s lead II rhythm strip). Nothing else about the case is shown.</p>",
        f'<p class="q">For each case, is <b>{name}</b> present? Write <b>yes</b>, <b>no</b> or <b>unsure</b> in the '
        f"<code>present</code> column of <code>{SHEET_FILE}</code> (one row per case), with any comment.</p>",
    ]
    for case, png in enumerate(images, start=1):
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<section id="case-{case}"><h2>Case {case}</h2>'
                     f'<img alt="12-lead ECG, case {case}" src="data:image/png;base64,{data}">'
                     f'<p class="q">Case {case}: {name} present? yes / no / unsure</p></section>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _key_rows(results: Results, c: int, rows: list[int]) -> list[list[object]]:
    """The key's rows (``KEY_COLUMNS``): what each case number hides."""
    oof = results.oof
    return [[case, oof.records[row], oof.sources[row], int(oof.folds[row]), oof.classes.abbreviations[c], oof.classes.codes[c],
             int(oof.labels[row, c]), int(oof.outputs[row, c]), repr(float(oof.probabilities[row, c]))]
            for case, row in enumerate(rows, start=1)]


def _write_staged(staging: Path, results: Results, c: int, cases: list[tuple[int, bytes]], draw: dict) -> None:
    packet, key = staging / PACKET_DIR, staging / KEY_DIR
    packet.mkdir()
    key.mkdir()
    classes = results.oof.classes
    atomic_write_text(packet / PACKET_FILE, packet_html(classes, c, [png for _, png in cases]))
    write_csv(packet / SHEET_FILE, SHEET_COLUMNS, [[k, classes.abbreviations[c], "", ""] for k in range(1, len(cases) + 1)])
    write_csv(key / KEY_FILE, KEY_COLUMNS, _key_rows(results, c, [row for row, _ in cases]))
    atomic_write_text(key / DRAW_FILE, json.dumps(draw, indent=2) + "\n")


def _publish(staging: Path, out: Path) -> None:
    """Move the staged packet and key into ``out``, replacing the old ones (the caller checked ``--force``)."""
    for name in (PACKET_DIR, KEY_DIR):
        if (out / name).exists():
            shutil.rmtree(out / name)
    for name in (PACKET_DIR, KEY_DIR):
        (staging / name).rename(out / name)


def write_review(results: Results, c: int, n: int, out: Path, kind: str = "misclassified", seed: int = 0,
                 force: bool = False) -> Path:
    """Draw up to ``n`` cases of class index ``c`` (in the results' class set) and write ``out/packet`` and ``out/key``;
    returns ``out``.

    Refuses (``AnalysisError``) when ``out`` already holds a packet or key, unless ``force``;
    the files are written in a hidden staging folder first, so a failed run leaves the old ones intact.
    """
    out = Path(out)
    existing = [str(out / d) for d in (PACKET_DIR, KEY_DIR) if (out / d).exists()]
    if existing and not force:
        raise AnalysisError(f"{', '.join(existing)} already exist(s): refusing to overwrite a review packet, its key "
                            "or ratings written into it; choose another --out or pass --force")
    abbreviation, code = results.oof.classes.abbreviations[c], results.oof.classes.codes[c]
    rng = np.random.default_rng(seed)
    pool = candidates(results, c, kind, rng)
    if len(pool) == 0:
        raise AnalysisError(f"{results.path}: no {kind} records for {abbreviation} to review")
    taken, skipped = _readable(results, pool, n)
    if not taken:
        raise AnalysisError(f"{results.data_dir}: none of the {len(pool)} {kind} records for {abbreviation} could be read "
                            f"(first: {skipped[0]['reason']})")
    if len(taken) < n:
        log.warning("%d of the %d cases asked for: only %d readable %s records for %s", len(taken), n, len(taken), kind, abbreviation)
    order = [taken[i] for i in rng.permutation(len(taken))]  # case numbers say nothing about rank or error type
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".review-"))
    try:
        cases = [(row, render_case(signal, fs, case, staging))
                 for case, (row, signal, fs) in enumerate(progress(order, desc="rendering cases", unit="record"), start=1)]
        draw = {"results_dir": str(results.path.resolve()), "data_dir": str(results.data_dir.resolve()), "kind": kind,
                "seed": seed, "class": abbreviation, "code": code, "cases_asked": n, "cases": len(cases),
                "candidates": int(len(pool)), "skipped": skipped}
        _write_staged(staging, results, c, cases, draw)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``review`` sub-command's arguments: results folder, class, number and kind of cases, seed, output."""
    parser.add_argument("results_dir", type=Path, help="a cv results directory (oof_predictions.csv, summary.json)")
    parser.add_argument("--class", dest="class_name", type=class_argument, required=True, metavar="CLASS",
                        help="the class to review, one the results score (2020's 24, 2021's 26): abbreviation (e.g. LAD) or "
                             "SNOMED CT code (e.g. 39732003)")
    parser.add_argument("--n", type=int, default=100, help="number of cases (default 100, the paper's)")
    parser.add_argument("--out", type=Path, required=True, help="folder for packet/ (for the raters) and key/ (keep apart)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw and of the case order (default 0)")
    parser.add_argument("--kind", choices=KINDS, default="misclassified",
                        help="misclassified (false positives and negatives, default), random, or label-issues (label_issues.csv)")
    parser.add_argument("--data", type=Path, default=None, help="where the records are now (default: the data_dir in summary.json)")
    parser.add_argument("--force", action="store_true", help="replace an existing packet and key in --out")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet review``: write the blinded packet, the rating sheet and the key kept apart; exit 0."""
    if args.n < 1:
        raise AnalysisError(f"--n must be at least 1, got {args.n}")
    results = load_results(args.results_dir, args.data)
    c = class_in(results.oof.classes, args.class_name, args.results_dir)
    out = write_review(results, c, args.n, args.out, kind=args.kind, seed=args.seed, force=args.force)
    cases = json.loads((out / KEY_DIR / DRAW_FILE).read_text())["cases"]
    print(f"{cases} {args.kind} {results.oof.classes.abbreviations[c]} cases\n"
          f"  for the raters: {out / PACKET_DIR / PACKET_FILE} and {out / PACKET_DIR / SHEET_FILE}\n"
          f"  keep apart:     {out / KEY_DIR / KEY_FILE}\n"
          f"  then:           python -m ecgnet agreement {out / KEY_DIR / KEY_FILE} RATINGS.csv [RATINGS2.csv ...]")
    return 0
