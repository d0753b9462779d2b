"""From fold models to binary outputs and scores: window averaging, thresholds and the vote.

API:

- ``record_inputs(record, config, leads) -> (windows (P, 12, L), features (5,) or (17,))``: a
  ``records.reader.Record`` resampled to 257 Hz and cut into ``signal.inference_windows``,
  as the network reads it through the lead set ``leads`` (``features``).
- ``fold_probabilities(models, dataset, config, ...) -> (F, N, C)``: per model, the
  sigmoid outputs averaged over each record's windows. ``dataset`` is a ``cache.Cache``
  (optionally with ``indices``) or a list of ``Record``; the windows go through the
  network in batches of at most ``config.inference_batch``, filled from consecutive
  records (a long record's windows span several batches), so memory stays bounded.
  ``lead_sets`` gives each record the lead set the network reads it through.
- ``predict_probabilities(models, dataset, config, ...) -> (N, C)``: their fold mean.
- ``inference_forms(models, device)``: the networks to predict with; on the CPU each
  ``SEResNet`` as its ``model.InferenceSEResNet`` (same outputs to float tolerance, faster).
- ``vote(probabilities (F, N, C), thresholds (F, C)) -> (outputs, scores)``: each fold
  marks the classes at or above its thresholds plus its top class; a class is output
  when more than half of the folds mark it (>= 3 of 5), and the top-voted class (ties
  broken by the mean probability) is always output; the score is the mean probability
  (Zhao et al., "Adaptive Lead Weighted ResNet Trained With Different Duration
  Signals for Classifying 12-lead ECGs", CinC 2020).
- ``Ensemble.load(model_dir)``: the validated model directory, ready to predict (with
  the models' inference forms);
  ``Ensemble.predict_record(record) -> (outputs bool (C,), scores float (C,))`` is what
  ``run_12ECG_classifier`` uses, one record at a time; ``Ensemble.predict_records(records)
  -> (outputs (N, C), scores (N, C))`` is what ``driver.py`` uses on the records it has
  read ahead, so several records share each forward pass.

C is the model's number of classes (``config.Config.classes``: 24 for 2020, 26 for 2021).
Lead sets: a model of the twelve leads (``lead_sets`` "12", every 2020 model) reads every
record through all twelve and refuses one without them. A model of reduced lead sets
(``config.Config.trained_lead_sets``) reads each record through the largest of its lead
sets that the record has (``Ensemble.lead_set_for``): the other leads are zeroed and the
12-value lead-presence vector (``leads.presence``) follows the five age/sex values, as in
training; leads the record has beyond that set are dropped with a warning naming them.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgnet.challenge.thresholds import apply_thresholds
from ecgnet.config import Config
from ecgnet.device import check_precision, choose_device, inference_autocast
from ecgnet.errors import RecordError
from ecgnet.leads import LEADS, largest_subset, lead_set_name, presence
from ecgnet.fileio import LEAD_SET_MODELS
from ecgnet.modeldir import load_manifest, load_weights, read_lead_set_models
from ecgnet.network.model import InferenceSEResNet, network_for
from ecgnet.records.reader import Record
from ecgnet.signal import encode_demographics, inference_windows, prepare_input, resample

LeadSets = Sequence[Sequence[str]]  # one lead set per record


def record_inputs(record: Record, config: Config, leads: Sequence[str] = LEADS) -> tuple[np.ndarray, np.ndarray]:
    """The network inputs of one record read through the lead set ``leads``: windows (P, 12, L) float32 at 257 Hz
    (L: ``config.window``, or shorter under ``pad_to = "stride"``), side features (5,) or (17,) (``side_features``)."""
    demographics = encode_demographics(record.age, record.sex)
    return _windows(resample(record.signal, record.fs), config, leads), side_features(demographics, config, leads)


def side_features(demographics: np.ndarray, config: Config, leads: Sequence[str] = LEADS) -> np.ndarray:
    """What the network's age/sex branch reads: ``demographics`` (5,), then, for a model of reduced lead sets
    (``config.lead_presence``), the lead-presence vector (12,) of ``leads``; float32."""
    demographics = np.asarray(demographics, dtype=np.float32)
    return np.concatenate([demographics, np.float32(presence(leads))]) if config.lead_presence else demographics


def _windows(signal: np.ndarray, config: Config, leads: Sequence[str] = LEADS) -> np.ndarray:
    """The inference windows of a 257-Hz (12, N) mV signal under ``config``: its input levers, window, overlap and
    padding; for a model of reduced lead sets, the leads outside ``leads`` zeroed (as training zeroes them)."""
    windows = inference_windows(prepare_input(signal, config), config.window, config.overlap, config.pad_multiple)
    if config.lead_presence:
        windows = windows * np.float32(presence(leads))[:, None]
    return windows


def _dataset_inputs(dataset, config: Config, indices: Sequence[int] | None,
                    lead_sets: LeadSets | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(windows (P, 12, L), side features) of each record of a list of ``Record`` or a ``cache.Cache``, the n-th
    record read through ``lead_sets[n]`` (all twelve leads when None)."""
    for n, i in enumerate(range(len(dataset)) if indices is None else indices):
        leads = LEADS if lead_sets is None else lead_sets[n]
        if isinstance(dataset, (list, tuple)):
            yield record_inputs(dataset[i], config, leads)
        else:
            yield _windows(dataset.signal(i), config, leads), side_features(dataset.demographics[i], config, leads)


def _window_batches(inputs: Iterator[tuple[np.ndarray, np.ndarray]], size: int
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches (windows (B, 12, L), demographics (B, 5), record number (B,)) of ``size`` windows, the last one fewer.

    Consecutive records share a batch and a record's windows may span several, so no
    batch is bigger than ``size`` whatever the records' lengths. A batch holds windows of
    one length: a record whose windows are shorter or longer (``pad_to = "stride"``)
    starts the next one.
    """
    pieces: list[tuple[np.ndarray, np.ndarray, int]] = []
    filled = 0
    for number, (windows, record_demographics) in enumerate(inputs):
        if pieces and pieces[0][0].shape[2] != windows.shape[2]:
            yield _stack(pieces)
            pieces, filled = [], 0
        start = 0
        while start < len(windows):
            piece = windows[start:start + size - filled]
            pieces.append((piece, record_demographics, number))
            start += len(piece)
            filled += len(piece)
            if filled == size:
                yield _stack(pieces)
                pieces, filled = [], 0
    if pieces:
        yield _stack(pieces)


def _stack(pieces: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    windows = np.concatenate([piece for piece, _, _ in pieces])
    repeated = np.concatenate([np.broadcast_to(np.asarray(d, np.float32), (len(piece), len(d))) for piece, d, _ in pieces])
    numbers = np.concatenate([np.full(len(piece), number) for piece, _, number in pieces])
    return windows, repeated, numbers


def inference_forms(models: Sequence[nn.Module], device: torch.device) -> list[nn.Module]:
    """The networks the forward passes use, in eval mode: on the CPU each ``SEResNet`` as its ``InferenceSEResNet``
    (same outputs to float tolerance, measured faster there), elsewhere the models themselves (not measured)."""
    for model in models:
        model.eval()
    if device.type != "cpu":
        return list(models)
    return [model if isinstance(model, InferenceSEResNet) else InferenceSEResNet(model) for model in models]


def _forward(models: Sequence[nn.Module], windows: np.ndarray, demographics_batch: np.ndarray, device: torch.device,
             precision: str) -> np.ndarray:
    """(F, B, C) sigmoid outputs of every model on windows (B, 12, L) with side features (B, 5) or (B, 17)."""
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
    d = torch.from_numpy(np.ascontiguousarray(demographics_batch, dtype=np.float32)).to(device)
    with torch.inference_mode(), inference_autocast(device, precision):
        return np.stack([torch.sigmoid(model(x, d).float()).cpu().numpy() for model in models])


def fold_probabilities(models: Sequence[nn.Module], dataset, config: Config, indices: Sequence[int] | None = None,
                       device: torch.device | None = None, precision: str = "fp32", lead_sets: LeadSets | None = None
                       ) -> np.ndarray:
    """(F, N, C) float64: each model's sigmoid outputs averaged over each record's windows.

    ``dataset``: a list of ``Record`` (resampled and windowed here) or a ``cache.Cache``
    (already at 257 Hz); ``indices`` picks and orders its records (N of them). At most
    ``config.inference_batch`` windows go through the network at once. ``models`` (switched to
    eval mode) run as given: ``SEResNet`` or, faster, their ``inference_forms``. ``lead_sets``
    (N,): the lead set each record is read through (``record_inputs``); None: all twelve leads.
    """
    device = device or next(models[0].parameters()).device
    for model in models:
        model.eval()
    count = len(dataset) if indices is None else len(indices)
    totals = np.zeros((count, len(models), config.classes.num_classes))  # per record: the sum of its windows' outputs
    windows_per_record = np.zeros(count)
    batches = _window_batches(_dataset_inputs(dataset, config, indices, lead_sets), max(1, config.inference_batch))
    for windows, demographics_batch, numbers in batches:
        outputs = _forward(models, windows, demographics_batch, device, precision)
        np.add.at(totals, numbers, outputs.transpose(1, 0, 2))
        np.add.at(windows_per_record, numbers, 1)
    return (totals / np.maximum(windows_per_record, 1)[:, None, None]).transpose(1, 0, 2)


def predict_probabilities(models: Sequence[nn.Module], dataset, config: Config, indices: Sequence[int] | None = None,
                          device: torch.device | None = None, precision: str = "fp32", lead_sets: LeadSets | None = None
                          ) -> np.ndarray:
    """(N, C) float64: the fold mean of ``fold_probabilities`` (same arguments)."""
    return fold_probabilities(models, dataset, config, indices, device, precision, lead_sets).mean(axis=0)


def vote(probabilities: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote of the folds: probabilities (F, N, C), thresholds (F, C) -> (outputs (N, C) bool, scores (N, C)).

    ``scores`` is the fold mean of the probabilities. Raises ``ValueError`` when the shapes disagree.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probabilities.ndim != 3 or thresholds.shape != (probabilities.shape[0], probabilities.shape[2]):
        raise ValueError(f"probabilities (F, N, C) {probabilities.shape} and thresholds (F, C) {thresholds.shape} disagree")
    folds = probabilities.shape[0]
    votes = np.stack([apply_thresholds(p, t) for p, t in zip(probabilities, thresholds)]).sum(axis=0)
    scores = probabilities.mean(axis=0)
    outputs = 2 * votes > folds
    # Scores lie in [0, 1], so half a score never outweighs one vote: it only breaks ties.
    top = np.argmax(votes + scores / 2, axis=1)
    outputs[np.arange(len(outputs)), top] = True
    return outputs, scores


def choose_lead_set(config: Config, leads: Sequence[str], where: str | Path = "<record>") -> tuple[tuple[str, ...], str | None]:
    """(the lead set a model of ``config`` reads a record with ``leads`` through, a warning naming the leads dropped or None).

    The largest of ``config.trained_lead_sets`` whose leads the record has. Raises
    ``RecordError`` naming ``where``, the leads missing and the lead sets the model reads
    when it has none of them (a twelve-lead model: any lead missing).
    """
    chosen = largest_subset(leads, config.trained_lead_sets)
    if chosen is None:
        if not config.lead_presence:
            missing = [lead for lead in LEADS if lead.lower() not in {name.lower() for name in leads}]
            raise RecordError(where, f"missing lead(s) {', '.join(missing)}; this model reads the twelve leads only")
        readable = "; ".join(",".join(s) for s in config.trained_lead_sets)
        raise RecordError(where, f"leads {', '.join(leads)} hold none of the lead sets this model reads ({readable})")
    dropped = [lead for lead in leads if lead.lower() not in {name.lower() for name in chosen}]
    if not dropped:
        return chosen, None
    return chosen, f"read as the {lead_set_name(chosen)}-lead set {','.join(chosen)}: lead(s) {', '.join(dropped)} dropped"


@dataclass
class Ensemble:
    """The fold models of a model directory with their thresholds (F, C) and settings.

    ``models`` are the eager networks (attributions use them); ``networks`` their
    ``inference_forms``, which the predictions use.
    """

    models: list[nn.Module]  # model.SEResNet
    thresholds: np.ndarray  # (F, C)
    config: Config
    manifest: dict
    device: torch.device
    precision: str = "fp32"
    networks: list[nn.Module] = field(default_factory=list)

    def __post_init__(self):
        self.networks = self.networks or inference_forms(self.models, self.device)

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str | None = None, precision: str | None = None) -> Ensemble:
        """Validate ``model_dir`` (see ``modeldir.load_manifest``) and load every fold model."""
        manifest = load_manifest(model_dir)
        config = Config.from_dict(manifest["config"])
        device = choose_device(device if isinstance(device, str) or device is None else str(device))
        models = []
        for fold in manifest["folds"]:
            model = network_for(config)
            model.load_state_dict(load_weights(model_dir, fold))
            models.append(model.to(device).eval())
        thresholds = np.array([fold["thresholds"] for fold in manifest["folds"]], dtype=np.float64)
        return cls(models, thresholds, config, manifest, device, check_precision(precision or config.cpu_precision))

    def lead_set_for(self, leads: Sequence[str], where: str | Path = "<record>") -> tuple[tuple[str, ...], str | None]:
        """``choose_lead_set`` for this model."""
        return choose_lead_set(self.config, leads, where)

    def predict_records(self, records: Sequence[Record], leads: LeadSets | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Binary outputs (N, C) bool and scores (N, C) float64 of N records: resample, window, forward, vote.

        ``leads[n]``: the leads record n holds signal for (None: all twelve); each is read
        through ``lead_set_for`` (whose ``RecordError`` it raises; its warning is the
        caller's to report). The records' windows share forward passes (at most
        ``config.inference_batch`` windows each), so the scores equal one-record calls to
        float tolerance (about 1e-7: the kernels' summation order depends on the batch
        size), not bit for bit.
        """
        records = list(records)
        lead_sets = None if leads is None else [self.lead_set_for(held, r.path)[0] for r, held in zip(records, leads)]
        probabilities = fold_probabilities(self.networks, records, self.config, device=self.device, precision=self.precision,
                                           lead_sets=lead_sets)
        return vote(probabilities, self.thresholds)

    def predict_record(self, record: Record, leads: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One record's binary outputs (bool, C) and scores (float64, C); ``run_12ECG_classifier``'s path."""
        outputs, scores = self.predict_records([record], None if leads is None else [leads])
        return outputs[0], scores[0]


@dataclass
class LeadSetEnsembles:
    """A model of one ensemble per lead set (``config.per_set``): each record goes to the ``Ensemble`` of the largest set
    it holds (``choose_lead_set``). ``config`` is the whole model's (its lead sets, classes and shared settings)."""

    members: dict[tuple[str, ...], Ensemble]
    config: Config

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str | None = None, precision: str | None = None) -> LeadSetEnsembles:
        """Every lead set's validated ensemble (``modeldir.read_lead_set_models``)."""
        config, folders = read_lead_set_models(model_dir)
        return cls({leads: Ensemble.load(folder, device, precision) for leads, folder in folders.items()}, config)

    def lead_set_for(self, leads: Sequence[str], where: str | Path = "<record>") -> tuple[tuple[str, ...], str | None]:
        """``choose_lead_set`` for this model."""
        return choose_lead_set(self.config, leads, where)

    def predict_records(self, records: Sequence[Record], leads: LeadSets | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``Ensemble.predict_records``: each record by its lead set's ensemble, in the records' order."""
        records = list(records)
        held = [LEADS] * len(records) if leads is None else list(leads)
        chosen = [self.lead_set_for(record_leads, record.path)[0] for record, record_leads in zip(records, held)]
        outputs = np.zeros((len(records), self.config.classes.num_classes), dtype=bool)
        scores = np.zeros(outputs.shape)
        for lead_set, member in self.members.items():
            rows = [i for i, leads_of in enumerate(chosen) if leads_of == lead_set]
            if rows:
                outputs[rows], scores[rows] = member.predict_records([records[i] for i in rows], [lead_set] * len(rows))
        return outputs, scores

    def predict_record(self, record: Record, leads: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``Ensemble.predict_record``, by the record's lead set's ensemble."""
        outputs, scores = self.predict_records([record], None if leads is None else [leads])
        return outputs[0], scores[0]


def load_ensemble(model_dir: str | Path, device: torch.device | str | None = None,
                  precision: str | None = None) -> Ensemble | LeadSetEnsembles:
    """The model of ``model_dir``: a ``LeadSetEnsembles`` where it holds one ensemble per lead set (``lead_sets.json``),
    else its ``Ensemble``. ``ModelDirError`` naming the problem (``modeldir``)."""
    if (Path(model_dir) / LEAD_SET_MODELS).is_file():
        return LeadSetEnsembles.load(model_dir, device, precision)
    return Ensemble.load(model_dir, device, precision)
