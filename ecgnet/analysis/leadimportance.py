"""`python -m ecgnet lead-importance RESULTS_DIR`: which leads each class's predictions rely on.

Lead occlusion, not the squeeze-excite gates: the stem convolution mixes all 12 leads
into every channel before the first gate, so no gate belongs to one lead
(``experiments/attribution_checks.py`` measures how evenly each stem filter spreads over the leads).
Occlusion asks the network itself: lead l of every inference window is set to zero (a
flat line, the Integrated Gradients baseline of ``explain``) and the drop in the class's
probability is recorded. Because the leads are linearly dependent (III = II - I, the
augmented leads), a small drop means the lead was not needed *given the others*.

Each record is scored by the fold model that never saw it (its ``fold`` in
``oof_predictions.csv``), as in ``cv``. ``importance[c, l]`` (C x 12, C the results' classes:
24 for 2020, 26 for 2021) is the mean drop of class c's probability over the records labelled c;
NaN for a class with none. It is written to ``lead_importance.csv`` (class, code, records,
I..V6) and drawn as a heat map.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecgnet.analysis.plot import save_figure
from ecgnet.challenge.classes import ClassSet
from ecgnet.console import progress
from ecgnet.errors import RecordError
from ecgnet.fileio import SUMMARY_FILE, check_results_dir, class_set_of_columns, read_oof, read_summary, write_csv
from ecgnet.leads import LEADS
from ecgnet.records.files import record_headers
from ecgnet.records.reader import read_record

if TYPE_CHECKING:  # torch is imported where the models run, so `report` does not pay for it
    import torch

    from ecgnet.config import Config

LEAD_IMPORTANCE_FILE = "lead_importance.csv"
LEAD_IMPORTANCE_FIGURE = "lead_importance.png"


def occlusion_drops(model: "torch.nn.Module", windows: np.ndarray, demographics: np.ndarray, batch: int = 64) -> np.ndarray:
    """(12, C): window-mean probability with every lead minus that with lead l zeroed, for one record.

    ``windows`` (P, 12, L) mV as ``ensemble.record_inputs`` gives them; at most ``batch`` windows per forward pass.
    """
    import torch

    windows = np.asarray(windows, dtype=np.float32)
    count = len(windows)
    total = (len(LEADS) + 1) * count  # variant 0: nothing occluded; variant v: lead v - 1 zeroed
    sums = None
    d = torch.from_numpy(np.repeat(np.asarray(demographics, dtype=np.float32)[None], batch, axis=0)).to(_device(model))
    model.eval()
    # Variants of all windows share batches: a few large forward passes cost far less than many small ones.
    for start in range(0, total, batch):
        variant, window = np.divmod(np.arange(start, min(start + batch, total)), count)
        x = windows[window]
        occluded = np.flatnonzero(variant > 0)
        x[occluded, variant[occluded] - 1] = 0.0
        with torch.inference_mode():
            p = torch.sigmoid(model(torch.from_numpy(x).to(_device(model)), d[:len(x)])).float().cpu().numpy()
        sums = np.zeros((len(LEADS) + 1, p.shape[1])) if sums is None else sums
        np.add.at(sums, variant, p)
    means = sums / count
    return means[0][None, :] - means[1:]


def _device(model: "torch.nn.Module") -> "torch.device":
    return next(model.parameters()).device


def _fold_models(results_dir: Path) -> tuple[dict[int, "torch.nn.Module"], Config]:
    from ecgnet.config import Config
    from ecgnet.device import choose_device
    from ecgnet.modeldir import load_manifest, load_weights
    from ecgnet.network.model import network_for

    manifest = load_manifest(results_dir)
    config = Config.from_dict(manifest["config"])
    device = choose_device()
    models = {}
    for entry in manifest["folds"]:
        model = network_for(config)
        model.load_state_dict(load_weights(results_dir, entry))
        models[int(entry["fold"])] = model.to(device).eval()
    return models, config


def lead_importance(results_dir: Path, data_dir: Path, max_records: int | None = None, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, ClassSet]:
    """(importance (C, 12) mean probability drop over each class's labelled records, records per class (C,), the classes)."""
    from ecgnet.inference.ensemble import record_inputs

    oof = read_oof(results_dir)
    models, config = _fold_models(results_dir)
    chosen = np.arange(len(oof.records))
    if max_records is not None and max_records < len(chosen):
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_records, replace=False))
    total, count = np.zeros((oof.classes.num_classes, len(LEADS))), np.zeros(oof.classes.num_classes)
    headers = record_headers(data_dir)
    for i in progress(chosen, "lead occlusion", unit="record"):
        header = headers.get(oof.records[i])
        if header is None:
            raise FileNotFoundError(f"record {oof.records[i]} of {results_dir} is not in {data_dir} or its sub-folders; pass --data")
        try:
            windows, demo = record_inputs(read_record(header, gain_policy=config.gain_policy), config)
        except RecordError as error:
            raise RecordError(header, f"{error.reason} (it was read when cv ran: was the data directory changed?)") from None
        labelled = oof.labels[i]
        total[labelled] += occlusion_drops(models[int(oof.folds[i])], windows, demo, config.inference_batch).T[labelled]
        count += labelled
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count[:, None], count, oof.classes


def write_lead_importance(results_dir: Path, importance: np.ndarray, count: np.ndarray, classes: ClassSet) -> Path:
    """``RESULTS_DIR/lead_importance.csv``: per class of ``classes``, records scored and the importance (C, 12) of each lead; its path."""
    rows = ([abbr, code, int(count[c]), *(repr(float(v)) for v in importance[c])]
            for c, (abbr, code) in enumerate(zip(classes.abbreviations, classes.codes)))
    return write_csv(Path(results_dir) / LEAD_IMPORTANCE_FILE, ["class", "code", "records", *LEADS], rows)


def read_lead_importance(results_dir: Path) -> tuple[np.ndarray, np.ndarray, ClassSet]:
    """(importance (C, 12) per class and lead, records (C,), the classes) from ``lead_importance.csv``; ValueError when its
    rows are not a known class set's classes."""
    path = Path(results_dir) / LEAD_IMPORTANCE_FILE
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = class_set_of_columns(path, [r["code"] for r in rows])
    return np.array([[float(r[lead]) for lead in LEADS] for r in rows]), np.array([int(r["records"]) for r in rows]), classes


def heat_map(importance: np.ndarray, count: np.ndarray, classes: ClassSet, path: Path) -> str:
    """Draw the C x 12 heat map (classes x leads) and return the file's name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = max(float(np.nanmax(np.abs(importance))) if np.isfinite(importance).any() else 0.0, 1e-3)
    fig, ax = plt.subplots(figsize=(7.5, 9))
    image = ax.imshow(np.ma.masked_invalid(importance), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(LEADS)), LEADS)
    ax.set_yticks(range(classes.num_classes), [f"{a} (n={int(n)})" for a, n in zip(classes.abbreviations, count)], fontsize=8)
    ax.set_title("Lead occlusion: drop in the class probability\nwhen one lead is zeroed (labelled records)", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.6, label="mean probability drop")
    return save_figure(fig, path, dpi=110, tight=True).name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``lead-importance`` sub-command's arguments: results folder, data folder, record limit, seed."""
    parser.add_argument("results_dir", type=Path, help="a directory written by `python -m ecgnet cv` or `demo` (its model)")
    parser.add_argument("--data", type=Path, default=None, help="the records cv ran on (default: the data_dir in summary.json)")
    parser.add_argument("--max-records", type=int, default=None, help="a seeded random subset of this many records (default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that subset (default 0)")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet lead-importance``: write ``lead_importance.csv`` and its heat map; exit 0."""
    results_dir: Path = args.results_dir
    data_dir = args.data
    check_results_dir(results_dir)
    if data_dir is None:
        if not (results_dir / SUMMARY_FILE).is_file():
            raise FileNotFoundError(f"{results_dir / SUMMARY_FILE}: missing, so {results_dir} is not a cv result; "
                                    f"run `python -m ecgnet cv DATA_DIR --out {results_dir}` first, or pass --data")
        data_dir = Path(read_summary(results_dir)["data_dir"])
    importance, count, classes = lead_importance(results_dir, data_dir, args.max_records, args.seed)
    path = write_lead_importance(results_dir, importance, count, classes)
    name = heat_map(importance, count, classes, results_dir / LEAD_IMPORTANCE_FIGURE)
    print(f"lead importance of {int(count.sum())} labels: {path} and {results_dir / name}")
    return 0


def report_section(results_dir: Path, figure_dir: Path) -> list[str]:
    """The report's lead-importance lines: the heat map when lead-importance has run, else how to run it."""
    if not (Path(results_dir) / LEAD_IMPORTANCE_FILE).is_file():
        return ["## Lead importance", "", f"Not computed yet: `python -m ecgnet lead-importance {results_dir}` "
                "(it re-reads the records and runs every fold model 13 times per record).", ""]
    importance, count, classes = read_lead_importance(results_dir)
    name = heat_map(importance, count, classes, Path(figure_dir) / LEAD_IMPORTANCE_FIGURE)
    return ["## Lead importance", "", "Mean drop of each class's probability when one lead is set to zero, over the "
            "records labelled with the class, each scored by its out-of-fold model (lead occlusion: the SE gates act on "
            f"channels that mix all leads). Values in [`{LEAD_IMPORTANCE_FILE}`]({LEAD_IMPORTANCE_FILE}).", "",
            f"![lead importance]({Path(figure_dir).name}/{name})", ""]
