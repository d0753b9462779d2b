"""The PhysioNet/CinC Challenge contracts: the functions the organisers' 2020 and 2021 scripts call.

2020 (``train_model.py``, ``driver.py``):

- ``train_12ECG_classifier(input_directory, output_directory)``: trains the 5-fold
  ensemble (``ecgnet.training.train.train_from_environment``) with the configuration named by
  ``$ECGNET_CONFIG`` (``default`` = the seed's recipe; see ``ecgnet.config``);
  ``$ECGNET_FOLDS=0,2`` trains only those folds (``ecgnet.modeldir``: spread them over
  GPUs or machines, then ``python -m ecgnet assemble MODEL_DIR``).
- ``load_12ECG_model(model_input)``: the validated model directory (``ecgnet.inference.ensemble.Ensemble``).
- ``run_12ECG_classifier(data, header_data, model) -> (labels, scores, classes)``: ``data``
  is the raw ``val`` counts (float64, 12 x N), scaled here by the header's gains (with
  the ``auto`` policy that overrides the 2020 release's wrong gains); ``labels`` are
  0/1 ints, ``scores`` floats, ``classes`` the 24 SNOMED CT codes. It never raises (the
  organisers' driver would stop at the first exception): a record that cannot be
  classified is logged by name and answered ``([], [], [])``, which the driver writes as
  empty lines and both scorers count as all-negative (``ecgnet.inference.predict.classify``, the
  same function ``driver.py`` calls for every record).

2021 ("Will Two Do?": ``train_model.py``, ``test_model.py`` of python-classifier-2021):

- ``training_code(data_directory, model_directory)``: the same training with the 2021
  challenge's 26 classes and one ensemble for each of its five lead sets (``config``:
  ``challenge`` and ``lead_sets`` "2021"; bench/RESULTS.md, "Lead sets", says why one per set).
- ``load_model(model_directory, leads)``: the validated ensemble for records of ``leads``
  (the ensemble of the largest lead set they hold; ``ModelDirError`` when there is none,
  e.g. a twelve-lead 2020 model given fewer leads).
- ``run_model(model, header, recording) -> (classes, labels, probabilities)``: ``header``
  the header's text, ``recording`` the ``val`` counts of the header's leads in the
  header's order; the same per-record function and failure policy as
  ``run_12ECG_classifier`` (never raises; a failure is answered ``([], [], [])``).

``$ECGNET_PRECISION`` (``fp32`` or ``bf16``) overrides the CPU inference precision the
model directory's config records.
"""
from __future__ import annotations

import logging

import numpy as np

from ecgnet.console import LOG_FORMAT
from ecgnet.inference import predict
from ecgnet.inference.ensemble import Ensemble
from ecgnet.training.train import train_from_environment


def _logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def train_12ECG_classifier(input_directory: str, output_directory: str) -> None:
    """Train the 5-fold ensemble (or the folds ``$ECGNET_FOLDS`` names) on ``input_directory`` into ``output_directory``."""
    _logging()
    train_from_environment(input_directory, output_directory)


def load_12ECG_model(model_input: str) -> Ensemble:
    """The validated ensemble of the model directory ``model_input``; raises ``ModelDirError`` naming the problem."""
    return predict.load_model(model_input)


def run_12ECG_classifier(data: np.ndarray, header_data, model: Ensemble) -> tuple[list[int], list[float], list[str]]:
    """Raw ``val`` counts (12, N) + header lines -> (labels (24,), scores (24,), classes (24,)), or ([], [], []) on failure."""
    return predict.classify(model, data, header_data)


def training_code(data_directory: str, model_directory: str) -> None:
    """Train the 2021 model (26 classes, the five lead sets) on ``data_directory`` into ``model_directory``."""
    _logging()
    train_from_environment(data_directory, model_directory, challenge="2021")


def load_model(model_directory: str, leads) -> Ensemble:
    """The validated ensemble of ``model_directory`` for records of ``leads`` (lead names); ``ModelDirError`` when it cannot read them."""
    _logging()
    return predict.load_model(model_directory, leads)


def run_model(model: Ensemble, header: str, recording: np.ndarray) -> tuple[list[str], list[int], list[float]]:
    """Header text + ``val`` counts (leads, N) -> (classes (C,), labels (C,), probabilities (C,)), or ([], [], []) on failure."""
    labels, probabilities, classes = predict.classify(model, recording, header)
    return classes, labels, probabilities
