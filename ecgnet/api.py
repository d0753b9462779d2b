"""The Python entry: load a model directory, classify one record, read the answer by class name.

    from ecgnet.api import Classifier
    model = Classifier.load("runs/demo/model")             # any model directory (train_model.py, demo, cv)
    result = model.classify_file("A0001.hea")              # or model.classify_signal(mv, fs=500, age=63, sex="Male")
    print(result.diagnoses)                                # the output classes, most probable first
    print({c.abbreviation: c.probability for c in result.classes})  # all 24 scored classes

``classify_file`` reads ``NAME.hea`` + ``NAME.mat`` with the project's checks and gain
policy (``ecgnet.records.reader.read_record``); ``classify_signal`` takes a (12, N) array in
millivolts, leads in ``ecgnet.leads.LEADS`` order (I, II, III, aVR, aVL, aVF, V1-V6).
Both answer with the ensemble's vote (``Ensemble.predict_record``): labels and the fold
mean probability of each of the 24 scored SNOMED CT classes (``ecgnet.challenge.classes``).

Unlike the organisers' ``run_12ECG_classifier``, which must never raise (their driver
stops at the first exception), these calls raise on bad input: a ``RecordError``
(a ``ValueError``) naming the file and the problem, a ``TypeError`` when a path is given
where an array belongs or the reverse, a ``ValueError`` for an unusable array.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES, NUM_CLASSES
from ecgnet.inference.ensemble import Ensemble
from ecgnet.leads import LEADS
from ecgnet.records.files import source_of
from ecgnet.records.header import SEX_NAMES
from ecgnet.records.formats import read_any
from ecgnet.records.reader import Record, too_short

MAX_AGE = 130  # years, the header reader's bound; there a larger age is unknown, here an error


class ClassResult(NamedTuple):
    """One scored class of one record."""

    code: str  # SNOMED CT code (the representative of an equivalent pair)
    abbreviation: str  # e.g. "AF", from dx_mapping_scored.csv
    probability: float  # fold mean of the sigmoid outputs, in [0, 1]
    label: bool  # output by the ensemble's vote


@dataclass(frozen=True)
class Prediction:
    """The ensemble's answer for one record, in ``ecgnet.challenge.classes.CLASSES`` order.

    ``probabilities`` (24,) float64 in [0, 1]; ``labels`` (24,) bool; ``warnings``: what
    the reader repaired or noticed (e.g. a wrong gain replaced), never silent.
    """

    probabilities: np.ndarray
    labels: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def classes(self) -> tuple[ClassResult, ...]:
        """All 24 scored classes with their probabilities and labels."""
        return tuple(ClassResult(code, abbreviation, float(p), bool(label))
                     for code, abbreviation, p, label in zip(CLASSES, ABBREVIATIONS, self.probabilities, self.labels))

    @property
    def diagnoses(self) -> list[ClassResult]:
        """The classes the ensemble outputs (at least one), most probable first."""
        return sorted((c for c in self.classes if c.label), key=lambda c: -c.probability)


def _is_path(value: object) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


def signal_record(signal: np.ndarray, fs: float, age: float | None = None, sex: str | None = None, name: str = "signal") -> Record:
    """A checked ``Record`` from a (12, N) array in mV at ``fs`` Hz, with age (years) and sex ("Male"/"Female")."""
    if _is_path(signal):
        raise TypeError(f"classify_signal takes the signal as a (12, N) array in mV, not the path {signal!r}: "
                        "use classify_file for a record on disk")
    array = np.asarray(signal)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"signal must be a numeric (12, N) array in mV, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != len(LEADS) or array.shape[1] == 0:
        hint = " (pass signal.T for an (N, 12) array)" if array.ndim == 2 and array.shape[1] == len(LEADS) else ""
        raise ValueError(f"signal must have shape (12, N) with N > 0, leads {', '.join(LEADS)}; got {array.shape}{hint}")
    if not np.isfinite(array).all():
        raise ValueError(f"signal has {int((~np.isfinite(array)).sum())} NaN or infinite sample(s): nothing to classify them by")
    if not np.ptp(array, axis=1).any():
        raise ValueError("every lead of the signal is flat (constant): no signal to classify")
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)) or not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be the sampling frequency in Hz, a positive number; got {fs!r}")
    problem = too_short(array.shape[1], float(fs))
    if problem:
        raise ValueError(f"signal {problem}: nothing to classify it by")
    if age is not None and (isinstance(age, bool) or not isinstance(age, (int, float, np.integer, np.floating))
                            or not math.isfinite(age) or not 0 <= age <= MAX_AGE):
        raise ValueError(f"age must be None (unknown) or years between 0 and {MAX_AGE}; got {age!r}")
    if sex is not None and (not isinstance(sex, str) or sex.strip().lower() not in SEX_NAMES):
        raise ValueError(f"sex must be None (unknown), 'Male' or 'Female' (or 'M'/'F'); got {sex!r}")
    return Record(name=name, path=Path(f"<{name}>"), fs=float(fs), signal=array.astype(np.float32),
                  age=None if age is None else float(age), sex=None if sex is None else SEX_NAMES[sex.strip().lower()],
                  labels=np.zeros(NUM_CLASSES, dtype=bool), unscored=(), source=source_of(name), warnings=())


class Classifier:
    """A loaded model directory (``Ensemble``) that classifies one record at a time."""

    def __init__(self, ensemble: Ensemble):
        self.ensemble = ensemble

    @classmethod
    def load(cls, model_dir: str | Path, device: str | None = None, precision: str | None = None) -> Classifier:
        """Validate and load ``model_dir``; ``device`` "cpu"/"cuda" (default: ``$ECGNET_DEVICE``,
        else CUDA when present), ``precision`` "fp32"/"bf16" for CPU inference (default: the
        directory's). Raises ``ModelDirError`` naming the file and the fix."""
        return cls(Ensemble.load(model_dir, device=device, precision=precision))

    def classify_file(self, path: str | Path) -> Prediction:
        """Classify the record in ``path``: a WFDB record (``NAME.hea``, ``NAME.mat``), a DICOM ECG, a GE MUSE XML or an HL7 aECG file
        (``records.formats.read_any``)."""
        if not _is_path(path):
            raise TypeError(f"classify_file takes the path of a NAME.hea or NAME.mat file, got {type(path).__name__}: "
                            "use classify_signal for an array")
        path = Path(os.fsdecode(path))
        return self.classify_record(read_any(path, gain_policy=self.ensemble.config.gain_policy))

    def classify_signal(self, signal: np.ndarray, fs: float, age: float | None = None, sex: str | None = None) -> Prediction:
        """Classify a (12, N) array in mV sampled at ``fs`` Hz (see ``signal_record`` for the checks)."""
        return self.classify_record(signal_record(signal, fs, age, sex))

    def classify_record(self, record: Record) -> Prediction:
        """Classify a ``Record`` (``records.reader.read_record`` / ``records.reader.record_from_arrays``)."""
        labels, scores = self.ensemble.predict_record(record)
        return Prediction(np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool), tuple(record.warnings))
