"""The files ecgnet writes: how (atomically) and, for a results directory, which (its layout, read and written here).

Atomic writes: a crash or a kill never leaves half a file where a whole one belongs.
The file gets the permissions a plain ``open(path, "w")`` would give it: an existing
file keeps its mode, a new one gets 0666 minus the umask (``tempfile.mkstemp`` alone
makes it 0600, unreadable to other users of a shared machine or a container run as
another user).

Every file name of a model directory and of a cross-validation results directory lives
here, and so does this, the one description of their layout::

    MODEL_DIR/                what train_model.py writes (modeldir.py builds and checks it)
      manifest.json           format version, classes, preprocessing, config, folds, seeds,
                              training-data fingerprint, package versions
      fold_K.pt               the state dict of fold model K (torch.save, weights only)
      bad_records.csv         file,reason of each unreadable record (absent when none; data/cache.py)
      warnings.csv            name,warning of each repaired record (absent when none; data/cache.py)
      folds/plan.json         config, data fingerprint and fold assignment every fold shares
      folds/fold_K/
        epochs.csv            fold K's epoch log (epoch, loss, inner_val_score, lr, seconds)
        result.json           fold K's manifest entry, its config and data fingerprint (reuse check)
        state.pt              the resumable training state; removed once fold K is finished
      work/                   the record cache while training (removed at the end)

    RESULTS_DIR/              what ``python -m ecgnet cv`` writes: a model directory, plus
      oof_predictions.csv     one row per record: record, source, fold, label_*, prob_*, output_*
      thresholds.csv          one row per fold: the per-class thresholds used for output_*
      summary.json            per-fold and pooled metrics, ablations, per-class table
      cache/                  the record cache, kept for the next run (training/crossval.py)
      by_source/              with ``python -m ecgnet loso``: the leave-one-source-out run, itself a results directory

    EXPORT_DIR/               what ``python -m ecgnet export MODEL_DIR EXPORT_DIR`` writes (inference/export.py)
      preprocess.onnx         the recipe's band-pass and standardisation on a 257-Hz signal
      fold_K.onnx             fold model K with its sigmoid (named after fold_K.pt)
      ecgnet_export.json      what the graphs expect: rate, units, leads, windows, age/sex, thresholds, vote, classes

``output_*`` are the labels of the chosen thresholding (the constrained search by default).

This module imports no torch: the Ctrl-C handler reads the fold folder names from it
while torch may be half imported, and ``review`` and ``labelissues`` read results without it.
"""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.challenge.classes import CLASS_SETS, DEFAULT, ClassSet, class_set
from ecgnet.errors import AnalysisError
from ecgnet.leads import lead_set_name

TEMP_SUFFIX = ".tmp"
NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes its share


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread, for a moment)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):  # not Linux, or an old kernel without the field
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normal_write_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: the existing file's, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return NEW_FILE_MODE & ~current_umask()


def temporary_files(directory: str | Path, name_pattern: str = "*") -> list[Path]:
    """Leftovers of interrupted atomic writes of files matching ``name_pattern`` (a kill between write and rename)."""
    return sorted(Path(directory).glob(f".{name_pattern}.*{TEMP_SUFFIX}"))


def atomic_write_bytes(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A killed process leaves the old file or the new one, never a part. ``sync`` also
    flushes the data to the disk before the rename (survives a power cut; slower, so
    the driver's many small output files skip it). The file ends with the mode a plain
    write would give it (``normal_write_mode``).
    """
    path = Path(path)
    mode = normal_write_mode(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, sync: bool = True) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8, newlines kept as given)."""
    atomic_write_bytes(path, text.encode("utf-8"), sync)


def write_csv(path: str | Path, header: Sequence[object], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV file atomically: ``header``, then one line per row (``\\n`` line ends, the csv module's quoting); its path.

    Every CSV file ecgnet writes goes through here. Floats meant to be read back exactly
    should come as ``repr(float(value))`` strings (shortest round-trip form).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


# --- the names of a model or results directory's files ---

MANIFEST = "manifest.json"  # the model directory's description (modeldir.py writes and checks it)
OOF_FILE = "oof_predictions.csv"
THRESHOLDS_FILE = "thresholds.csv"
SUMMARY_FILE = "summary.json"
FOLDS_DIR = "folds"
EPOCH_LOG = "epochs.csv"
FOLD_RESULT = "result.json"
TRAINING_STATE = "state.pt"
FOLDS_PLAN = "plan.json"
WORK_DIR = "work"  # a training run's own record cache (MODEL_DIR/work), removed once the manifest is written
CACHE_ENV_VAR = "ECGNET_CACHE_DIR"  # train_model.py's record cache kept there instead, for later trainings to reuse
LEAD_SET_MODELS = "lead_sets.json"  # a model of one ensemble per lead set: its sets and their model directories
LEAD_SET_DIR = "leads_{}"  # each lead set's model (or results) directory inside one, by the set's name (lead_set_dir)
EXPORT_SPEC = "ecgnet_export.json"  # what `python -m ecgnet export` writes beside its graphs (inference/export.py)
PREPROCESS_GRAPH = "preprocess.onnx"


def fold_dir(root: str | Path, fold: int) -> Path:
    """``root/folds/fold_K``: fold ``fold``'s epoch log, result and training state (``root``: a model directory)."""
    return Path(root) / FOLDS_DIR / f"fold_{fold}"


def lead_set_dir(root: str | Path, leads: Sequence[str]) -> Path:
    """The model (or results) directory of the lead set ``leads`` inside a model of one ensemble per lead set: ``leads_NAME``."""
    return Path(root) / LEAD_SET_DIR.format(lead_set_name(leads))


def read_lead_set_list(root: str | Path) -> tuple[dict, dict[tuple[str, ...], Path]]:
    """(the content of ``root/lead_sets.json``, each lead set's model or results directory that it names).

    Raises ``OSError``, ``ValueError`` (not JSON), ``KeyError`` or ``TypeError`` when the file is absent or not such a list.
    """
    content = json.loads((Path(root) / LEAD_SET_MODELS).read_text())
    return content, {tuple(entry["leads"]): Path(root) / entry["dir"] for entry in content["lead_sets"]}


def plan_path(root: str | Path) -> Path:
    """``root/folds/plan.json``: what every fold of ``root`` (a model directory) is trained from (``modeldir.write_plan``)."""
    return Path(root) / FOLDS_DIR / FOLDS_PLAN


def epoch_logs(root: str | Path) -> list[Path]:
    """Every fold's ``epochs.csv`` under ``root`` (a model or results directory), sorted by path."""
    return sorted(Path(root).glob(f"{FOLDS_DIR}/fold_*/{EPOCH_LOG}"))


@dataclass
class OutOfFold:
    """Out-of-fold predictions: every record predicted by the one model that never saw it."""

    records: list[str]
    sources: list[str]
    folds: np.ndarray  # (N,) int
    labels: np.ndarray  # (N, C) bool
    probabilities: np.ndarray  # (N, C) float
    outputs: np.ndarray  # (N, C) bool
    classes: ClassSet = DEFAULT  # the C classes, in their order (2020's 24 or 2021's 26)


def write_oof(results_dir: Path, oof: OutOfFold) -> Path:
    """Write ``oof_predictions.csv`` (one row per record, N rows, 3 + 3 x C columns named by the classes' codes); returns its path."""
    codes = oof.classes.codes
    header = ["record", "source", "fold"]
    header += [f"label_{c}" for c in codes] + [f"prob_{c}" for c in codes] + [f"output_{c}" for c in codes]
    rows = ([name, oof.sources[i], int(oof.folds[i])] + [int(v) for v in oof.labels[i]]
            + [repr(float(v)) for v in oof.probabilities[i]] + [int(v) for v in oof.outputs[i]] for i, name in enumerate(oof.records))
    return write_csv(Path(results_dir) / OOF_FILE, header, rows)


def check_results_dir(results_dir: Path) -> None:
    """``AnalysisError`` naming ``results_dir`` when the path is wrong (no such directory, or the demo's folder given for
    its ``model/``), rather than telling the user to run cv there; a folder merely lacking results passes."""
    if not results_dir.is_dir():
        raise AnalysisError(f"{results_dir}: no such directory; check the path (a results directory is what "
                            "`python -m ecgnet cv --out DIR` or `demo` writes: runs/demo/model for the demo)")
    if not (results_dir / OOF_FILE).is_file() and (results_dir / "model" / OOF_FILE).is_file():
        raise AnalysisError(f"{results_dir}: no {OOF_FILE} here; did you mean {results_dir / 'model'}?")
    if not (results_dir / OOF_FILE).is_file() and any(results_dir.glob("**/*.hea")):
        raise AnalysisError(f"{results_dir}: a folder of records, not a results directory; give the folder that "
                            "`python -m ecgnet cv --out DIR` wrote (runs/demo/model for the demo)")


def read_oof(results_dir: Path) -> OutOfFold:
    """Read ``oof_predictions.csv``, in the class set its columns name; ``FileNotFoundError`` / ``ValueError`` naming the
    file when absent or not ours."""
    path = Path(results_dir) / OOF_FILE
    check_results_dir(Path(results_dir))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no out-of-fold predictions here; run `python -m ecgnet cv DATA_DIR --out {results_dir}` first")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: holds no records")
    classes = class_set_of_columns(path, [column.removeprefix("prob_") for column in rows[0] if column.startswith("prob_")])

    def matrix(prefix: str, dtype: type) -> np.ndarray:
        return np.array([[float(r[f"{prefix}_{c}"]) for c in classes.codes] for r in rows]).astype(dtype)

    return OutOfFold(
        records=[r["record"] for r in rows],
        sources=[r["source"] for r in rows],
        folds=np.array([int(r["fold"]) for r in rows]),
        labels=matrix("label", bool),
        probabilities=matrix("prob", np.float64),
        outputs=matrix("output", bool),
        classes=classes,
    )


def class_set_of_columns(path: Path, codes: list[str]) -> ClassSet:
    """The class set whose codes, in order, are ``codes`` (a results file's class columns or rows); ``ValueError`` naming
    ``path`` otherwise."""
    for name in CLASS_SETS:
        if list(class_set(name).codes) == codes:
            return class_set(name)
    raise ValueError(f"{path}: its class columns are those of no known class set ({', '.join(CLASS_SETS)}): written by another version?")


def write_thresholds(results_dir: Path, thresholds: dict[int, np.ndarray], classes: ClassSet = DEFAULT) -> Path:
    """Write ``thresholds.csv``: fold -> (C,) thresholds of ``classes``, one row per fold; returns its path."""
    rows = ([fold, *(repr(float(t)) for t in values)] for fold, values in sorted(thresholds.items()))
    return write_csv(Path(results_dir) / THRESHOLDS_FILE, ["fold", *classes.codes], rows)


def read_thresholds(results_dir: Path) -> dict[int, np.ndarray]:
    """Read ``thresholds.csv``: fold -> (C,) float thresholds, in the order of its class columns."""
    path = Path(results_dir) / THRESHOLDS_FILE
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        codes = [c for c in reader.fieldnames or [] if c != "fold"]
        return {int(r["fold"]): np.array([float(r[c]) for c in codes]) for r in reader}


def write_summary(results_dir: Path, summary: dict) -> Path:
    """Write ``summary.json`` (NaN allowed for undefined metrics); returns its path."""
    path = Path(results_dir) / SUMMARY_FILE
    atomic_write_text(path, json.dumps(summary, indent=2, allow_nan=True) + "\n")
    return path


def read_summary(results_dir: Path) -> dict:
    """Read ``summary.json``."""
    return json.loads((Path(results_dir) / SUMMARY_FILE).read_text())
