"""The Python entry: load a model directory, classify one record, read the answer by class name.

    from ecgnet.api import Classifier
    model = Classifier.load("runs/demo/model")             # any model directory (train_model.py, demo, cv)
    result = model.classify_file("A0001.hea")              # or model.classify_signal(mv, fs=500, age=63, sex="Male")
    print(result.diagnoses)                                # the output classes, most probable first
    print({c.abbreviation: c.probability for c in result.classes})  # every scored class (24 for 2020, 26 for 2021)

``classify_file`` reads ``NAME.hea`` + ``NAME.mat`` with the project's checks and gain
policy (``ecgnet.records.reader.read_record``); ``classify_signal`` takes a (12, N) array in
millivolts, leads in ``ecgnet.leads.LEADS`` order (I, II, III, aVR, aVL, aVF, V1-V6), or named
leads: a dict ``{"I": array, "II": array}`` or a (k, N) array with ``leads=["I", "II"]``.
Both answer with the ensemble's vote (``Ensemble.predict_record``): labels and the fold
mean probability of each of the model's scored SNOMED CT classes (``ecgnet.challenge.classes``).

A model of the twelve leads (every 2020 model) refuses a record that lacks one. A model of
reduced lead sets (the 2021 challenge's: ``config.Config.lead_sets``) reads a record through
the largest of its lead sets that the record holds; leads beyond that set are dropped and a
warning in ``Prediction.warnings`` names them; a record holding none of its sets is refused.

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

from ecgnet.challenge.classes import DEFAULT, ClassSet
from ecgnet.inference.ensemble import Ensemble, LeadSetEnsembles, load_ensemble
from ecgnet.leads import LEADS, lead_set
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
    """The ensemble's answer for one record, in the order of its class set ``class_set`` (the model's).

    ``probabilities`` (C,) float64 in [0, 1]; ``labels`` (C,) bool; ``warnings``: what
    the reader repaired or noticed (e.g. a wrong gain replaced, leads dropped), never silent.
    """

    probabilities: np.ndarray
    labels: np.ndarray
    warnings: tuple[str, ...] = ()
    class_set: ClassSet = DEFAULT

    @property
    def classes(self) -> tuple[ClassResult, ...]:
        """Every scored class with its probability and label."""
        return tuple(ClassResult(code, abbreviation, float(p), bool(label)) for code, abbreviation, p, label
                     in zip(self.class_set.codes, self.class_set.abbreviations, self.probabilities, self.labels))

    @property
    def diagnoses(self) -> list[ClassResult]:
        """The classes the ensemble outputs (at least one), most probable first."""
        return sorted((c for c in self.classes if c.label), key=lambda c: -c.probability)


def _is_path(value: object) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


def _named_leads(signal, leads) -> tuple[np.ndarray, tuple[str, ...]]:
    """(the (k, N) array, its k lead names) of a dict of leads, an array with ``leads``, or a (12, N) array."""
    if isinstance(signal, dict):
        if leads is not None:
            raise TypeError("give the lead names either as the dict's keys or as leads=, not both")
        leads = list(signal)
        arrays = [np.asarray(value) for value in signal.values()]
        if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) > 1:
            raise ValueError(f"each lead of the dict must be a 1-D array, all of one length; got shapes "
                             f"{', '.join(f'{lead} {a.shape}' for lead, a in zip(leads, arrays))}")
        signal = np.stack(arrays) if arrays else np.zeros((0, 0))
    array = np.asarray(signal)
    names = tuple(LEADS) if leads is None else tuple(str(lead) for lead in leads)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"signal must be a numeric (leads, N) array in mV, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != len(names) or array.shape[1] == 0:
        hint = f" (pass signal.T for an (N, {len(names)}) array)" if array.ndim == 2 and array.shape[1] == len(names) else ""
        raise ValueError(f"signal must have shape ({len(names)}, N) with N > 0, leads {', '.join(names)}; got {array.shape}{hint}")
    return array, names


def signal_record(signal, fs: float, age: float | None = None, sex: str | None = None, name: str = "signal",
                  leads: list[str] | tuple[str, ...] | None = None) -> Record:
    """A checked ``Record`` from an array in mV at ``fs`` Hz, with age (years) and sex ("Male"/"Female").

    ``signal``: a (12, N) array, leads in ``LEADS`` order; a (k, N) array with the names of
    its k rows in ``leads`` (any order, any case); or a dict of lead name -> (N,) array. The
    record's signal is (12, N) in ``LEADS`` order, zero where a lead is absent
    (``Record.leads`` names those present). ``ValueError`` for an unknown lead or one named twice.
    """
    if _is_path(signal):
        raise TypeError(f"classify_signal takes the signal as a (12, N) array in mV, not the path {signal!r}: "
                        "use classify_file for a record on disk")
    array, names = _named_leads(signal, leads)
    present = lead_set(names)  # LEADS order; ValueError for an unknown or repeated lead
    full = np.zeros((len(LEADS), array.shape[1]), dtype=np.float32)
    full[[LEADS.index(lead_set([name])[0]) for name in names]] = array
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
    return Record(name=name, path=Path(f"<{name}>"), fs=float(fs), signal=full,
                  age=None if age is None else float(age), sex=None if sex is None else SEX_NAMES[sex.strip().lower()],
                  labels=np.zeros(DEFAULT.num_classes, dtype=bool), unscored=(), source=source_of(name), warnings=(), leads=present)


class Classifier:
    """A loaded model directory (``Ensemble``, or ``LeadSetEnsembles`` for one ensemble per lead set) that classifies one
    record at a time."""

    def __init__(self, ensemble: Ensemble | LeadSetEnsembles):
        self.ensemble = ensemble

    @classmethod
    def load(cls, model_dir: str | Path, device: str | None = None, precision: str | None = None) -> Classifier:
        """Validate and load ``model_dir``; ``device`` "cpu"/"cuda" (default: ``$ECGNET_DEVICE``,
        else CUDA when present), ``precision`` "fp32"/"bf16" for CPU inference (default: the
        directory's). Raises ``ModelDirError`` naming the file and the fix."""
        return cls(load_ensemble(model_dir, device=device, precision=precision))

    def classify_file(self, path: str | Path) -> Prediction:
        """Classify the record in ``path``: a WFDB record (``NAME.hea``, ``NAME.mat``), a DICOM ECG, a GE MUSE XML or an HL7 aECG file
        (``records.formats.read_any``)."""
        if not _is_path(path):
            raise TypeError(f"classify_file takes the path of a NAME.hea or NAME.mat file, got {type(path).__name__}: "
                            "use classify_signal for an array")
        path = Path(os.fsdecode(path))
        config = self.ensemble.config
        return self.classify_record(read_any(path, gain_policy=config.gain_policy, all_leads=not config.lead_presence))

    def classify_signal(self, signal, fs: float, age: float | None = None, sex: str | None = None,
                        leads: list[str] | tuple[str, ...] | None = None) -> Prediction:
        """Classify an array in mV sampled at ``fs`` Hz: (12, N), or named leads (a dict, or ``leads``; see ``signal_record``)."""
        return self.classify_record(signal_record(signal, fs, age, sex, leads=leads))

    def classify_record(self, record: Record) -> Prediction:
        """Classify a ``Record`` (``records.reader.read_record`` / ``records.reader.record_from_arrays``) through the lead set
        the model reads it by (``Ensemble.lead_set_for``: ``RecordError`` when it holds none)."""
        _, dropped = self.ensemble.lead_set_for(record.leads, record.path)
        labels, scores = self.ensemble.predict_record(record, record.leads)
        return Prediction(np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool),
                          tuple(record.warnings) + ((dropped,) if dropped else ()), self.ensemble.config.classes)
