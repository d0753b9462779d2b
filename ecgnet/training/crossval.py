"""`python -m ecgnet cv DATA_DIR`: honest out-of-fold scores for the 5-fold ensemble.

The results directory is also a model directory: ``train.train_ensemble`` trains fold
model k on the other folds (checkpoint and thresholds from an inner split of those),
then every record of fold k is predicted by model k alone, the one model that never saw
it. Three thresholding rules are scored side by side, as in the seed paper's ablation:

- ``none``: 0.5 for every class (plus the top class);
- ``global``: one threshold for all classes, searched on the inner validation split;
- ``constrained``: the per-class constrained search (what the ensemble uses).

A model of reduced lead sets (``config.Config.trained_lead_sets``, e.g. the 2021
challenge's five) is scored on every one of its lead sets, each time on the same held-out
records read through that set (``summary["lead_sets"]``); ``oof_predictions.csv`` and the
scores above it are those of its largest set, the twelve leads for the 2021 sets. One
network for all sets uses the fold's thresholds, chosen on its inner split pooled over the
sets, as training chooses them. One ensemble per set (``config.Config.per_set``) is
cross-validated set by set, each into its own results directory (``fileio.lead_set_dir``)
with the same folds and one record cache; the results directory then holds the largest
set's results files, the summary with a row per set, and ``lead_sets.json``, so that it is
a model directory too (``ensemble.load_ensemble``).

Resumable: a fold whose weights are complete is not trained again (``train_ensemble``),
and predictions are recomputed deterministically from the weights. ``--only-folds 0,2``
trains just those folds into the results directory (one run per GPU or machine); the
out-of-fold results come from the run that finds every fold finished.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecgnet.challenge import metrics
from ecgnet.challenge.classes import ClassSet
from ecgnet.challenge.thresholds import apply_thresholds, global_threshold
from ecgnet.config import Config, load_config
from ecgnet.data.cache import Cache
from ecgnet.device import choose_device, is_main_process, set_threads
from ecgnet.fileio import OOF_FILE, THRESHOLDS_FILE, OutOfFold, lead_set_dir, write_oof, write_summary, write_thresholds
from ecgnet.inference.ensemble import inference_forms, predict_probabilities
from ecgnet.leads import lead_set_name
from ecgnet.modeldir import load_manifest, load_weights, parse_folds, write_lead_set_models
from ecgnet.network.model import network_for
from ecgnet.training.train import inner_split, labelled_records, metric_for, train_ensemble, training_cache

log = logging.getLogger(__name__)

ABLATIONS = ("none", "global", "constrained")
CACHE_DIR = "cache"
Assign = Callable[[list[str], np.ndarray], np.ndarray]  # (names, labels) -> fold of each record, -1: never held out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``cv`` sub-command's arguments: data folder, number of folds, preset, output folder, seed."""
    parser.add_argument("data_dir", type=Path, help="challenge-format records (NAME.hea + NAME.mat), in it or its sub-folders")
    parser.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    parser.add_argument("--config", default=None, help="preset (default, smoke, cpu, demo) or JSON file; default $ECGNET_CONFIG or 'default'")
    parser.add_argument("--out", type=Path, default=None, help="results directory (default runs/cv-<DATA_DIR name>)")
    parser.add_argument("--seed", type=int, default=None, help="seed for folds and training (default: the config's)")
    parser.add_argument("--only-folds", default=None, metavar="K,K",
                        help="train only these folds (e.g. 0,2); results once every fold is trained")
    parser.add_argument("--thresholding", choices=ABLATIONS, default="constrained",
                        help="rule whose labels go into oof_predictions.csv (all three are scored)")


def cross_validate_from_arguments(args: argparse.Namespace) -> tuple[Config, Path, dict | None]:
    """(config, results directory, summary) of the ``cv`` run ``args`` describe; the summary is None while folds are missing."""
    config = load_config(args.config).replace(n_folds=args.folds)
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    out = args.out or Path("runs") / f"cv-{args.data_dir.resolve().name}"
    only_folds = None if args.only_folds is None else parse_folds(args.only_folds, config.n_folds, "--only-folds")
    summary = cross_validate(args.data_dir, out, config, thresholding=args.thresholding, only_folds=only_folds)
    if summary is None:
        print(f"{out}: fold(s) {args.only_folds} trained; run again (without --only-folds) once every fold is")
    elif summary:
        print(format_summary(summary, out))
    return config, out, summary


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet cv``: out-of-fold predictions and scores into ``--out``; prints the summary; exit 0."""
    cross_validate_from_arguments(args)
    return 0


def _fold_thresholds(fold_entry: dict, val_labels: np.ndarray, val_probabilities: np.ndarray, classes: ClassSet) -> dict[str, np.ndarray]:
    count = classes.num_classes
    return {
        "none": np.full(count, 0.5),
        "global": np.full(count, global_threshold(val_labels, val_probabilities, metric_for(val_labels, classes))),
        "constrained": np.asarray(fold_entry["thresholds"], dtype=np.float64),
    }


def _per_class(oof: OutOfFold, thresholds: dict[int, np.ndarray]) -> list[dict]:
    values = metrics.per_class(oof.labels, oof.outputs, oof.probabilities)
    mean_thresholds = np.mean(list(thresholds.values()), axis=0)
    return [{"class": code, **{name: float(column[c]) for name, column in values.items()}, "threshold": float(mean_thresholds[c])}
            for c, code in enumerate(oof.classes.codes)]


def scores(labels: np.ndarray, outputs: np.ndarray, probabilities: np.ndarray, classes: ClassSet) -> dict[str, float]:
    """``metrics.with_sensitivity_specificity`` of (N, C) arrays with the challenge metric of ``classes``."""
    return metrics.with_sensitivity_specificity(labels, outputs, probabilities, classes.weights, classes.normal_index)


def _fold_assignment(cache: Cache, usable: np.ndarray, manifest: dict, out: Path) -> np.ndarray:
    recorded = manifest["data"]["fold_assignment"]
    names = [str(n) for n in cache.names[usable]]
    if manifest["data"]["fingerprint"] != cache.fingerprint or set(recorded) != set(names):
        raise RuntimeError(f"{out}: its models were trained on other data than the records now in the data directory; "
                           "use a new --out directory (or delete this one) to cross-validate the current data")
    return np.array([recorded[n] for n in names])


def _read_through(networks, cache, config: Config, indices: np.ndarray, device) -> dict[tuple[str, ...], np.ndarray]:
    """Lead set -> probabilities (N, C) of the records ``indices`` read through it, for each set the model reads."""
    return {leads: predict_probabilities(networks, cache, config, indices=indices, device=device, lead_sets=[leads] * len(indices))
            for leads in config.trained_lead_sets}


def _predict_folds(cache, usable: np.ndarray, assignment: np.ndarray, manifest: dict, config: Config,
                   device, out: Path, thresholding: str) -> tuple[dict, dict, dict, dict]:
    """Each fold model on its held-out records: (probabilities, outputs, thresholds, per-fold scores per ablation).

    ``usable`` (N,) are the cache rows scored, ``assignment`` (N,) their folds; each fold's
    thresholds come from its inner split of the training folds (``_fold_thresholds``), read
    through every lead set and pooled. ``probabilities`` and ``outputs`` map each lead set to
    (N, C) arrays, ``outputs`` under every ablation for the largest set (key ``None`` and the
    ablation's name) and under ``thresholding`` for each set (key: the set).
    """
    n, classes, sets = len(usable), config.classes, config.trained_lead_sets
    probabilities = {leads: np.zeros((n, classes.num_classes)) for leads in sets}
    outputs = {key: np.zeros((n, classes.num_classes), dtype=bool) for key in (*ABLATIONS, *sets)}
    thresholds: dict[str, dict[int, np.ndarray]] = {name: {} for name in ABLATIONS}
    per_fold: dict = {key: {} for key in (*ABLATIONS, *sets)}
    for entry in manifest["folds"]:
        k = int(entry["fold"])
        held = np.flatnonzero(assignment == k)
        _, val_idx = inner_split(cache, usable[assignment != k], config, config.seed, k)
        model = network_for(config)
        model.load_state_dict(load_weights(out, entry))
        networks = inference_forms([model.to(device)], device)  # faster on the CPU, same outputs to float tolerance
        fold_probabilities = _read_through(networks, cache, config, usable[held], device)
        val_probabilities = np.concatenate(list(_read_through(networks, cache, config, val_idx, device).values()))
        val_labels = np.tile(np.asarray(cache.labels[val_idx], dtype=bool), (len(sets), 1))
        held_labels = cache.labels[usable[held]]
        for name, values in _fold_thresholds(entry, val_labels, val_probabilities, classes).items():
            thresholds[name][k] = values
            outputs[name][held] = apply_thresholds(fold_probabilities[sets[0]], values)
            per_fold[name][str(k)] = scores(held_labels, outputs[name][held], fold_probabilities[sets[0]], classes)
        for leads, values in fold_probabilities.items():
            probabilities[leads][held] = values
            outputs[leads][held] = apply_thresholds(values, thresholds[thresholding][k])
            per_fold[leads][str(k)] = metric_for(held_labels, classes).score(outputs[leads][held])
        log.info("fold %d: %d held-out records, challenge score %.3f", k, len(held), per_fold[thresholding][str(k)]["Challenge metric"])

    return probabilities, outputs, thresholds, per_fold


def _lead_set_rows(labels: np.ndarray, probabilities: dict, outputs: dict, per_fold: dict, classes: ClassSet) -> list[dict]:
    """``summary["lead_sets"]``: per lead set, its name and leads, the pooled scores and the per-fold challenge scores."""
    rows = []
    for leads, values in probabilities.items():
        fold_scores = np.array(list(per_fold[leads].values()))
        rows.append({"name": lead_set_name(leads), "leads": ",".join(leads), "pooled": scores(labels, outputs[leads], values, classes),
                     "per_fold": per_fold[leads], "fold_mean": float(fold_scores.mean()),
                     "fold_sd": float(fold_scores.std(ddof=1)) if len(fold_scores) > 1 else 0.0})
    return rows


def cross_validate(data_dir: str | Path, out_dir: str | Path, config: Config, thresholding: str = "constrained",
                   assign: Assign | None = None, cache_root: str | Path | None = None,
                   only_folds: tuple[int, ...] | None = None) -> dict | None:
    """Train (or resume) the folds, predict each with its own model, write and return the summary.

    ``assign``: see ``train_ensemble``. None while folds other than ``only_folds``, when
    given, are still to train. Under torchrun every rank trains; rank 0 alone predicts
    and writes, the others return {}.
    """
    data_dir, out = Path(data_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache_root = Path(cache_root or out / CACHE_DIR)
    if config.per_set:
        return _cross_validate_per_set(data_dir, out, config, thresholding, assign, cache_root, only_folds)
    if train_ensemble(data_dir, out, config, cache_root=cache_root, assign=assign, only_folds=only_folds) is None:
        return None
    if not is_main_process():  # under torchrun the other ranks only help train the folds
        return {}
    manifest = load_manifest(out)
    set_threads(config.threads)
    device = choose_device()
    # The same settings find the cache train_ensemble just built (or reused): nothing is read twice.
    cache = training_cache(data_dir, cache_root, config)
    usable = labelled_records(cache)
    assignment = _fold_assignment(cache, usable, manifest, out)

    by_set, outputs, thresholds, per_fold = _predict_folds(cache, usable, assignment, manifest, config, device, out, thresholding)

    keep = assignment >= 0  # fold -1 (leave-one-source-out): trained on by every fold, held out by none
    usable, assignment = usable[keep], assignment[keep]
    by_set, outputs = {k: v[keep] for k, v in by_set.items()}, {k: v[keep] for k, v in outputs.items()}
    probabilities = by_set[config.trained_lead_sets[0]]
    n, labels = len(usable), np.asarray(cache.labels[usable], dtype=bool)
    oof = OutOfFold([str(x) for x in cache.names[usable]], [str(x) for x in cache.sources[usable]], assignment,
                    labels, probabilities, outputs[thresholding], config.classes)
    write_oof(out, oof)
    write_thresholds(out, thresholds[thresholding], config.classes)
    fold_scores = np.array([v["Challenge metric"] for v in per_fold[thresholding].values()])
    summary = {
        "data_dir": str(data_dir.resolve()),
        "records": n,
        "unreadable_records": len(cache.bad_records),
        "thresholding": thresholding,
        "pooled": scores(labels, outputs[thresholding], probabilities, config.classes),
        "per_fold": per_fold[thresholding],
        "fold_mean": float(fold_scores.mean()),
        "fold_sd": float(fold_scores.std(ddof=1)) if len(fold_scores) > 1 else 0.0,
        "ablations": {name: metric_for(labels, config.classes).score(outputs[name]) for name in ABLATIONS},
        "ablation_per_fold": {name: {k: v["Challenge metric"] for k, v in per_fold[name].items()} for name in ABLATIONS},
        "per_class": _per_class(oof, thresholds[thresholding]),
        "config": config.to_dict(),
    }
    if config.lead_presence:
        summary["lead_sets"] = _lead_set_rows(labels, by_set, outputs, per_fold, config.classes)
    write_summary(out, summary)
    return summary


def _cross_validate_per_set(data_dir: Path, out: Path, config: Config, thresholding: str, assign: Assign | None,
                            cache_root: Path, only_folds: tuple[int, ...] | None) -> dict | None:
    """``cross_validate`` of one ensemble per lead set (the module's docstring): the largest set's summary with every set's
    row in ``lead_sets``; None while folds are missing, {} on torchrun ranks other than 0."""
    sets = config.trained_lead_sets
    summaries = [cross_validate(data_dir, lead_set_dir(out, leads), config.member(leads), thresholding, assign, cache_root, only_folds)
                 for leads in sets]
    if any(summary is None for summary in summaries):
        return None
    if not is_main_process():
        return {}
    for name in (OOF_FILE, THRESHOLDS_FILE):
        shutil.copyfile(lead_set_dir(out, sets[0]) / name, out / name)
    write_lead_set_models(out, config)
    summary = {**summaries[0], "config": config.to_dict(), "lead_sets": [summary["lead_sets"][0] for summary in summaries]}
    write_summary(out, summary)
    return summary


def format_summary(summary: dict, out: Path) -> str:
    """The few lines ``cv`` prints: pooled and per-fold challenge scores, the ablations, where the files are."""
    pooled = summary["pooled"]
    lines = [
        f"out-of-fold results for {summary['records']} records ({summary['thresholding']} thresholds):",
        f"  challenge score  pooled {pooled['Challenge metric']:.3f}; per fold {summary['fold_mean']:.3f} ± {summary['fold_sd']:.3f} (mean ± sd)",
        f"  AUROC {pooled['AUROC']:.3f}  AUPRC {pooled['AUPRC']:.3f}  F-measure {pooled['F-measure']:.3f}  "
        f"sensitivity {pooled['Sensitivity']:.3f}  specificity {pooled['Specificity']:.3f}",
        "  ablation (pooled challenge score): " + ", ".join(f"{k} {v:.3f}" for k, v in summary["ablations"].items()),
    ]
    lines += [f"  {row['name']}-lead set ({row['leads']}): challenge score pooled {row['pooled']['Challenge metric']:.3f}, "
              f"AUROC {row['pooled']['AUROC']:.3f}" for row in summary.get("lead_sets", [])]
    lines.append(f"  files: {out}/oof_predictions.csv, {out}/summary.json; report: python -m ecgnet report {out}")
    return "\n".join(lines)
