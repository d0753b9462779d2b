"""The PhysioNet/CinC Challenge 2020 contract: the three functions the organisers' scripts call.

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

``$ECGNET_PRECISION`` (``fp32`` or ``bf16``) overrides the CPU inference precision the
model directory's config records.
"""
from __future__ import annotations

import logging

import numpy as np

from ecgnet.console import LOG_FORMAT
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.predict import classify, load_model
from ecgnet.training.train import train_from_environment


def train_12ECG_classifier(input_directory: str, output_directory: str) -> None:
    """Train the 5-fold ensemble (or the folds ``$ECGNET_FOLDS`` names) on ``input_directory`` into ``output_directory``."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    train_from_environment(input_directory, output_directory)


def load_12ECG_model(model_input: str) -> Ensemble:
    """The validated ensemble of the model directory ``model_input``; raises ``ModelDirError`` naming the problem."""
    return load_model(model_input)


def run_12ECG_classifier(data: np.ndarray, header_data, model: Ensemble) -> tuple[list[int], list[float], list[str]]:
    """Raw ``val`` counts (12, N) + header lines -> (labels (24,), scores (24,), classes (24,)), or ([], [], []) on failure."""
    return classify(model, data, header_data)
