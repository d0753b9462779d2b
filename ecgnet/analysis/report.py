"""`python -m ecgnet report RESULTS_DIR`: a Markdown report with PNG figures from a cv run.

Everything is recomputed from the files of the results directory (see ``fileio.py``),
so a report can be re-rendered at any time, on any machine, without the models.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, PowerNorm  # noqa: E402

import ecgnet  # noqa: E402
from ecgnet import __version__  # noqa: E402
from ecgnet.analysis.labelissues import report_section as label_issue_section  # noqa: E402
from ecgnet.analysis.leadimportance import report_section as lead_importance_section  # noqa: E402
from ecgnet.analysis.plot import save_figure  # noqa: E402
from ecgnet.challenge import metrics
from ecgnet.challenge.thresholds import top_class_mask  # noqa: E402
from ecgnet.config import COMPUTE_ONLY, PRESETS  # noqa: E402
from ecgnet.fileio import (  # noqa: E402
    FOLD_RESULT,
    LEAD_SET_DIR,
    LEAD_SET_MODELS,
    MANIFEST,
    OOF_FILE,
    SUMMARY_FILE,
    THRESHOLDS_FILE,
    OutOfFold,
    atomic_write_text,
    epoch_logs,
    fold_dir,
    read_lead_set_list,
    read_oof,
    read_summary,
    read_thresholds,
)
from ecgnet.records.files import source_of  # noqa: E402
from ecgnet.synth import PREFIX as SYNTHETIC_PREFIX  # noqa: E402

log = logging.getLogger(__name__)

# The seed paper's 5-fold cross-validation challenge scores (Zhao et al., CinC 2020).
SEED_PAPER_CV = {"none": 0.630, "global": 0.675, "constrained": 0.684}
ABLATION_NAMES = {
    "none": "no thresholds (0.5, top class forced)",
    "global": "one global threshold",
    "constrained": "constrained per-class search",
}
# What each figure shows and what it does not, printed under it.
CAPTIONS = {
    "Per-class bars": "Out-of-fold sensitivity, specificity, F1 and AUROC per class at the chosen thresholds; "
                      "the black marks are the per-class thresholds averaged over the folds. A class with few "
                      "positive records (column n above) has bars that can swing with one record.",
    "ROC curves": "Each class's operating points over the pooled out-of-fold probabilities; the title gives the "
                  "positive records (n) and the area the challenge scorer reports (AUROC).",
    "Precision-recall curves": "Drawn from the first operating point (the highest probability) on: precision is "
                               "undefined before any record is predicted positive. Each step's height is the "
                               "precision the challenge scorer's AUPRC uses over that step of recall; the dashed line "
                               "is the class's prevalence, what a random ranking achieves.",
    "Where the reward is lost": "Top: the challenge metric's modified confusion matrix A (each record adds 1 / |labels ∪ "
                                "outputs| to every pair of its true and output classes), coloured as a fraction of its "
                                "row (square-root scale) so that rare classes stay visible beside the normal class; the cells print A itself. "
                                "Bottom: what each cell earns less than correct pairs would, A x (1 - W) with W the "
                                "challenge weights, on a log colour scale.",
    "Score against one global threshold": "The pooled out-of-fold challenge score if every class used the same "
                                          "threshold. The marked best is chosen on the very predictions it is scored "
                                          "on, so it is optimistic; the dashed line is the honest figure, each fold's "
                                          "threshold chosen on its inner split and scored on its held-out records.",
    "Learning curves": "Per fold: training loss and the challenge score on the inner validation split (which also "
                       "chooses the checkpoint and the thresholds), by epoch.",
    "Scores per lead set": "The pooled out-of-fold challenge score and AUROC of the model on each of its lead sets, every "
                           "bar over the same held-out records read through that set (the other leads zeroed); the whiskers "
                           "are the standard deviation of the per-fold challenge scores.",
}
REPORT_FILE = "report.md"
FIGURE_DIR = "figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` sub-command's argument: the results folder."""
    parser.add_argument("results_dir", type=Path, help="a directory written by `python -m ecgnet cv` or `demo`")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet report``: write ``report.md`` and ``figures/`` into the results folder; exit 0."""
    path = render_report(args.results_dir)  # read_oof, its first read, checks the path (fileio.check_results_dir)
    print(f"report: {path}")
    return 0


def _save(fig: plt.Figure, path: Path) -> str:
    return save_figure(fig, path, dpi=110, tight=True).name


def _figure_per_class(abbreviations: tuple[str, ...], stats: dict[str, np.ndarray], thresholds_mean: np.ndarray | None,
                      path: Path) -> str:
    x = np.arange(len(abbreviations))
    fig, ax = plt.subplots(figsize=(13, 4.8))
    for offset, name in zip((-0.3, -0.1, 0.1, 0.3), ("sensitivity", "specificity", "F1", "AUROC")):
        ax.bar(x + offset, np.nan_to_num(stats[name]), width=0.2, label=name)
    if thresholds_mean is not None:
        ax.plot(x, thresholds_mean, "k_", markersize=14, label="mean threshold")
    ax.set_xticks(x, abbreviations, rotation=60)
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class results (out-of-fold; a missing bar is 0 or undefined)", pad=24)
    # Above the axes, where no bar can be: inside, every placement covers some class's bars.
    ax.legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _curve_title(name: str, positives: np.ndarray, stats: dict[str, np.ndarray], c: int, kind: str) -> str:
    area = ("AUROC", stats["AUROC"][c]) if kind == "roc" else ("AUPRC", stats["AUPRC"][c])
    return f"{name} n={int(positives.sum())}, {area[0]} {_fmt(area[1])}"


CURVE_COLUMNS = 6  # panels per row of the curve figures: 4 rows for 2020's 24 classes, 5 for 2021's 26


def _figure_curves(oof: OutOfFold, stats: dict[str, np.ndarray], path: Path, kind: str) -> str:
    rows = -(-oof.classes.num_classes // CURVE_COLUMNS)
    fig, axes = plt.subplots(rows, CURVE_COLUMNS, figsize=(15, 2.5 * rows), sharex=True, sharey=True)
    for ax in axes.ravel()[oof.classes.num_classes:]:
        ax.set_visible(False)
    for c, (name, ax) in enumerate(zip(oof.classes.abbreviations, axes.ravel())):
        positives = oof.labels[:, c]
        ax.set_title(_curve_title(name, positives, stats, c, kind), fontsize=9)
        if positives.all() or not positives.any():
            ax.text(0.5, 0.5, "undefined", ha="center", va="center", fontsize=8)
            continue
        recall, specificity, precision = metrics.class_curve(positives, oof.probabilities[:, c])
        if kind == "roc":
            ax.plot(1.0 - specificity, recall, lw=1.2)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
        else:
            # From the first operating point: precision at "predict nothing" is undefined, not 1.
            ax.step(recall[1:], precision, where="pre", lw=1.2)
            ax.plot(recall[1], precision[0], "o", markersize=3, color="C0")
            ax.axhline(positives.mean(), color="grey", lw=0.5, ls="--")
    label = ("false-positive rate", "sensitivity") if kind == "roc" else ("recall", "precision")
    fig.supxlabel(label[0])
    fig.supylabel(label[1])
    fig.suptitle("ROC curves per class (n: positive records; dashed: chance)" if kind == "roc"
                 else "Precision-recall curves per class (n: positive records; dot: highest-score point; dashed: prevalence)")
    fig.tight_layout()
    return _save(fig, path)


CELL_FONT_PT = 9.0  # the numbers in the confusion figure's cells: legible at the saved 110 dpi (about 14 px)


def _cell_text(value: float) -> str:
    """A cell's value in at most 3 characters, so that it fits its cell at ``CELL_FONT_PT``: 0.3, 12, 345, 12k."""
    if value >= 999.5:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 9.5 else f"{value:.1f}"


def _annotate_cells(ax: plt.Axes, values: np.ndarray, colour_fraction: np.ndarray) -> None:
    """Print each non-negligible cell's value, dark on light cells and light on dark ones."""
    for j, k in zip(*np.nonzero(values >= 0.05)):
        colour = "black" if colour_fraction[j, k] > 0.6 else "white"
        ax.text(k, j, _cell_text(values[j, k]), ha="center", va="center", fontsize=CELL_FONT_PT, color=colour)


def confusion_figure(oof: OutOfFold) -> plt.Figure:
    """The "Where the reward is lost" figure: two C x C panels, one above the other (top: the challenge's modified
    confusion matrix A; bottom: the reward lost, A x (1 - W)), each cell printing its value at ``CELL_FONT_PT``."""
    matrix = metrics.modified_confusion_matrix(oof.labels, oof.outputs)
    lost = matrix * (1.0 - oof.classes.weights)
    row_sums = matrix.sum(axis=1, keepdims=True)
    # Per row: the normal class holds most records, so one shared scale hides every other row; a square-root
    # scale because a row spreads over up to 24 output classes, so the fractions that matter are small.
    by_row = np.divide(matrix, row_sums, out=np.zeros_like(matrix), where=row_sums > 0)
    # Log scale: the lost reward spans orders of magnitude, most of it in the normal row.
    floor = max(lost[lost > 0].min(initial=np.inf), 0.01) if (lost > 0).any() else 0.01
    log_norm = LogNorm(vmin=floor, vmax=max(lost.max(), floor * 10))
    shown_lost = np.clip(lost, floor, None)
    # One above the other, each the full width: a cell is then about 0.45 in (32 pt), room for 3 characters at 9 pt,
    # and the picture stays legible when a Markdown viewer shrinks it to the page's width.
    fig, axes = plt.subplots(2, 1, figsize=(12.5, 22.5), layout="constrained")
    panels = (
        (axes[0], by_row, PowerNorm(0.5, 0.0, 1.0), "viridis", "Challenge confusion matrix A, colour normalised per row\n(cells: A, records weighted 1/|labels ∪ outputs|; k: thousands)",
         "fraction of the row (square-root scale)"),
        (axes[1], shown_lost, log_norm, "magma", "Reward lost: A x (1 - W), log colour scale\n(cells: lost reward, in records; k: thousands)", "lost reward (log scale)"),
    )
    true_counts, names, count = oof.labels.sum(axis=0), oof.classes.abbreviations, oof.classes.num_classes
    for ax, data, norm, cmap, title, bar_label in panels:
        image = ax.imshow(data, cmap=cmap, norm=norm)
        _annotate_cells(ax, matrix if ax is axes[0] else lost, np.asarray(norm(data)))
        ax.set_xticks(range(count), names, rotation=90, fontsize=9)
        ax.set_yticks(range(count), [f"{name} ({int(n)})" for name, n in zip(names, true_counts)], fontsize=9)
        ax.set_xlabel("output class", fontsize=11)
        ax.set_ylabel("true class (positive records)", fontsize=11)
        ax.set_title(title, fontsize=12)
        fig.colorbar(image, ax=ax, fraction=0.046, label=bar_label)
    return fig


def _figure_confusion(oof: OutOfFold, path: Path) -> str:
    return _save(confusion_figure(oof), path)


def global_threshold_curve(oof: OutOfFold, steps: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Pooled challenge score with one threshold for every class (top class always on).

    Returns the thresholds (``steps``,) in [0, 1] and their scores (``steps``,).
    """
    grid = np.linspace(0.0, 1.0, steps)
    candidates = (oof.probabilities[None] >= grid[:, None, None]) | top_class_mask(oof.probabilities)[None]
    metric = metrics.ChallengeMetric(oof.labels, oof.classes.weights, oof.classes.normal_index)
    return grid, np.asarray(metric.score(candidates))


def _figure_thresholds(oof: OutOfFold, held_out_global: float | None, path: Path) -> str:
    grid, scores = global_threshold_curve(oof)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(grid, scores, label="pooled out-of-fold score at each threshold")
    best = int(np.argmax(scores))
    ax.plot(grid[best], scores[best], "o", label=f"in-sample best {scores[best]:.3f} at {grid[best]:.2f}\n(chosen and scored on the same predictions: optimistic)")
    if held_out_global is not None:
        ax.axhline(held_out_global, color="C2", ls="--",
                   label=f"held out: chosen on each fold's inner split (the 'global' ablation) {held_out_global:.3f}")
    ax.set_xlabel("global threshold (every class)")
    ax.set_ylabel("challenge score (pooled out-of-fold)")
    ax.set_title("Challenge score against one global threshold")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    return _save(fig, path)


def _read_log(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for key in rows[0] if rows else []:
        try:
            columns[key] = np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError):
            continue
    return columns


def _figure_learning(results_dir: Path, path: Path) -> str | None:
    logs = epoch_logs(results_dir)
    if not logs:
        return None
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(12, 4))
    for log_path in logs:
        data = _read_log(log_path)
        if "epoch" not in data:
            continue
        name = log_path.parent.name
        for ax, key in ((ax_loss, "loss"), (ax_score, "inner_val_score")):
            if key in data:
                ax.plot(data["epoch"], data[key], marker=".", label=name)
    ax_loss.set_title("training loss")
    ax_score.set_title("inner-validation challenge score")
    for ax in (ax_loss, ax_score):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def preset_of(config: dict) -> tuple[str, list[str]]:
    """The preset a configuration (``Config.to_dict()``) was built on, and the training settings it changes.

    The nearest preset by the number of changed training settings (compute-only
    settings such as threads are ignored); the configuration does not record its name.
    """
    identity = {key: value for key, value in config.items() if key not in COMPUTE_ONLY}

    def changed(name: str) -> list[str]:
        preset = {key: value for key, value in PRESETS[name].to_dict().items() if key not in COMPUTE_ONLY}
        return sorted(key for key, value in preset.items() if identity.get(key, value) != value)

    name = min(PRESETS, key=lambda preset: len(changed(preset)))
    return name, changed(name)


def _git_commit() -> str | None:
    """The commit of the git checkout this ecgnet runs from (+ "with uncommitted changes"), or None."""
    root = Path(ecgnet.__file__).resolve().parents[1]  # the folder that holds the package: a clone's root

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None  # an installed copy inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short=12", "HEAD") + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _utc(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _epoch_seconds(results_dir: Path, manifest: dict) -> float | None:
    """Seconds spent in training epochs, summed over the folds' epoch logs (across resumed runs)."""
    paths = [results_dir / entry["log"] for entry in manifest.get("folds", []) if "log" in entry]
    logs = [_read_log(path) for path in paths if path.is_file()]
    return float(sum(log_["seconds"].sum() for log_ in logs if "seconds" in log_)) if logs else None


def _fold_seconds(results_dir: Path, manifest: dict) -> list[float] | None:
    """Each fold's own training time (s, ``folds/fold_K/result.json``'s ``seconds``); None when any is unrecorded."""
    seconds = []
    for entry in manifest.get("folds", []):
        path = fold_dir(results_dir, entry.get("fold", -1)) / FOLD_RESULT
        try:
            seconds.append(float(json.loads(path.read_text())["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):  # absent or older than the field: the last call's wall time only
            return None
    return seconds or None


def training_time(data: dict, fold_seconds: list[float] | None) -> str:
    """The report's training time from the manifest's ``data`` (``training_seconds``: the wall time of the call that
    wrote it, s) and the folds' own times (s, or None). A rerun that reuses folds takes less wall time than they
    took to train: then the folds' own times are the truth, and the wall time is named as the rerun's."""
    where = f"on {data.get('device', '?')} with {data.get('threads', '?')} threads"
    if "training_seconds" not in data:
        return "not recorded"
    wall = float(data["training_seconds"])
    if fold_seconds is None:
        return f"training {wall:.0f} s wall (record cache included) in the last call, {where}; folds reused from earlier calls not counted"
    total = sum(fold_seconds)
    if wall + 0.5 >= total:  # every fold trained by the call that wrote the manifest (or summed by `assemble`)
        return f"training {wall:.0f} s wall (record cache included), {where}; the {len(fold_seconds)} folds' own times sum to {total:.0f} s"
    reused = "every fold" if wall < min(fold_seconds) else "some folds"
    return (f"training {total:.0f} s, the {len(fold_seconds)} folds' own times summed (folds/fold_K/{FOLD_RESULT}), {where}; "
            f"the last call took {wall:.0f} s wall, reusing {reused} trained by an earlier run")


def _manifests(results_dir: Path) -> list[tuple[Path, dict]]:
    """(model directory, ``manifest.json``) of the run: its own, or each lead set's for a model of one ensemble per set
    (``lead_sets.json`` names their directories); [] when none is recorded."""
    if (results_dir / MANIFEST).is_file():
        return [(results_dir, json.loads((results_dir / MANIFEST).read_text()))]
    if not (results_dir / LEAD_SET_MODELS).is_file():
        return []
    folders = read_lead_set_list(results_dir)[1].values()
    return [(folder, json.loads((folder / MANIFEST).read_text())) for folder in folders if (folder / MANIFEST).is_file()]


def _code_and_time(results_dir: Path, manifests: list[tuple[Path, dict]]) -> list[str]:
    """The code and run-time lines; a model of one ensemble per lead set sums its sets' times (each its own manifest)."""
    versions = manifests[0][1].get("versions", {}) if manifests else {}
    trained = (f"ecgnet {versions.get('ecgnet', '?')} (Python {versions.get('python', '?')}, torch {versions.get('torch', '?')}, "
               f"numpy {versions.get('numpy', '?')})") if versions else f"an unrecorded version (no {MANIFEST})"
    commit = _git_commit()
    rendered = f"ecgnet {__version__}" + (f", git commit {commit}" if commit else ", git commit unknown (not a git checkout)")
    data = dict(manifests[0][1].get("data", {})) if manifests else {}
    if len(manifests) > 1 and all("training_seconds" in m.get("data", {}) for _, m in manifests):
        data["training_seconds"] = sum(float(m["data"]["training_seconds"]) for _, m in manifests)
    seconds = [_fold_seconds(folder, manifest) for folder, manifest in manifests]
    run_time = training_time(data, None if not seconds or None in seconds else sum(seconds, []))
    if len(manifests) > 1:
        run_time += f" ({len(manifests)} lead sets' ensembles)"
    epochs = [_epoch_seconds(folder, manifest) for folder, manifest in manifests]
    if epochs and None not in epochs:
        run_time += f"; {sum(epochs):.0f} s in training epochs over all folds"
    return [f"| code | trained by {trained}; report by {rendered} |",
            f"| date | results written {_utc((results_dir / OOF_FILE).stat().st_mtime)}; report rendered {_utc(datetime.datetime.now().timestamp())} |",
            f"| run time | {run_time} |"]


def _data_lines(oof: OutOfFold, summary: dict) -> list[str]:
    sources = ", ".join(f"{source or '(no prefix)'} {oof.sources.count(source)}" for source in sorted(set(oof.sources)))
    counts = oof.labels.sum(axis=0)
    missing = [name for name, n in zip(oof.classes.abbreviations, counts) if n == 0]
    unreadable = summary.get("unreadable_records")
    return [
        f"| data | {summary.get('data_dir', 'directory not recorded')}: {len(oof.records)} labelled records in "
        f"{len(np.unique(oof.folds))} folds ({'?' if unreadable is None else unreadable} unreadable); per source: {sources} |",
        f"| labels | the {oof.classes.name} challenge's {oof.classes.num_classes} classes; {int(counts.sum())} positive labels "
        f"({counts.sum() / len(oof.records):.2f} per record); positive records per class in the column n below; classes "
        f"without any: {', '.join(missing) or 'none'} |",
    ]


def _banners(oof: OutOfFold, preset: str, config: dict) -> list[str]:
    """Warnings that must be read before any number: a smoke preset, synthetic records."""
    lines = []
    if preset == "smoke":
        lines.append(f"> **SMOKE PRESET: the scores mean nothing.** A width-{config.get('width', '?')} network trained for "
                     f"{config.get('epochs', '?')} epochs to check that the machinery runs, not to learn.")
    synthetic = sum(source.startswith(source_of(SYNTHETIC_PREFIX)) for source in oof.sources)  # SYN, SYNCPSC, ... (profiles)
    if synthetic:
        share = "All" if synthetic == len(oof.sources) else f"{synthetic} of {len(oof.sources)}"
        lines.append(f"> **SYNTHETIC DATA.** {share} records come from ecgnet's built-in generator (`{SYNTHETIC_PREFIX}` names): "
                     "the scores say how well the model learns the generator's rules, not how it reads real ECGs.")
    return [line for banner in lines for line in (banner, ">")][:-1]


def header_lines(results_dir: Path, oof: OutOfFold, summary: dict) -> list[str]:
    """The report's first lines: title, warning banners, then preset, code, date, run time and data.

    Reads ``summary`` (``summary.json``) for the configuration and data directory and
    ``manifest.json`` (each lead set's, for one ensemble per set), when present, for versions and run time; missing facts
    say so.
    """
    manifests = _manifests(Path(results_dir))
    config = summary.get("config") or (manifests[0][1].get("config") if manifests else None)
    preset, changed = preset_of(config) if config else ("not recorded", [])
    banners = _banners(oof, preset, config or {})
    settings = ", ".join(f"{key}={config[key]}" for key in changed) if changed else "none"
    lines = ["# ecgnet cross-validation report", ""] + (banners + [""] if banners else [])
    lines += ["| | |", "|---|---|", f"| preset | {preset} (training settings changed from it: {settings}) |"]
    lines += _code_and_time(Path(results_dir), manifests) + _data_lines(oof, summary)
    return lines


def _summary_lines(oof: OutOfFold, summary: dict) -> list[str]:
    pooled = metrics.with_sensitivity_specificity(oof.labels, oof.outputs, oof.probabilities, oof.classes.weights,
                                                  oof.classes.normal_index)
    lines = [
        "| metric | pooled out-of-fold |",
        "|---|---:|",
    ]
    lines += [f"| {name if name in metrics.METRIC_NAMES else name.lower() + ' (macro)'} | {_fmt(value)} |" for name, value in pooled.items()]
    per_fold = summary.get("per_fold", {})
    if per_fold:
        scores = ", ".join(_fmt(v["Challenge metric"]) for v in per_fold.values())
        lines += ["", f"Challenge score per fold: {scores} (mean {summary['fold_mean']:.3f} ± {summary['fold_sd']:.3f} sd)"]
    test = summary.get("test")
    if test:
        lines += ["", f"Held-out test set ({test['records']} records never seen in training, scored by the bundled scorer from the driver's output files):", "",
                  "| metric | test set |", "|---|---:|"]
        lines += [f"| {name} | {_fmt(test.get(name))} |" for name in metrics.METRIC_NAMES]
    ablations = summary.get("ablations", {})
    if ablations:
        lines += ["", "| thresholding | this run (pooled) | seed paper, 5-fold CV on 37,749 records |", "|---|---:|---:|"]
        for key, label in ABLATION_NAMES.items():
            if key in ablations:
                lines.append(f"| {label} | {_fmt(ablations[key])} | {SEED_PAPER_CV[key]:.3f} |")
        lines += ["", "The seed paper's figures come from the full 2020 training set with the validation fold also used for checkpoint and thresholds; this run's thresholds come from an inner split of the training folds, so its figures are held-out estimates on different data and are not directly comparable."]
    return lines


def _score_cells(scores: dict) -> str:
    """A table row's challenge score, AUROC, AUPRC and F-measure cells."""
    return " | ".join(_fmt(scores[name]) for name in ("Challenge metric", "AUROC", "AUPRC", "F-measure"))


def by_source_lines(summary: dict) -> list[str]:
    """The leave-one-source-out section (``summary["by_source"]``, ``loso.py``): one row per held-out group, then pooled."""
    section = summary.get("by_source")
    if not section:
        return []
    lines = ["## Leave one source out", "",
             f"Each group below was held out in turn: its model trained on every other source (checkpoint and thresholds from "
             f"an inner split of those) and predicted this group only. Models and predictions: `{section['results_dir']}/`. "
             + section["rule"], "",
             "| held-out source | records | challenge score | AUROC | AUPRC | F-measure |", "|---|---:|---:|---:|---:|---:|"]
    for row in section["groups"]:
        lines.append(f"| {row['group'] or '(no prefix)'} | {row['records']} | {_score_cells(row)} |")
    lines.append(f"| pooled | {section['records']} | {_score_cells(section['pooled'])} |")
    lines += ["", f"Challenge score per held-out source: {section['mean']:.3f} ± {section['sd']:.3f} (mean ± sd), against "
              f"{summary['fold_mean']:.3f} ± {summary['fold_sd']:.3f} over the stratified folds above.", ""]
    return lines


def lead_set_lines(summary: dict) -> list[str]:
    """The lead-set section's table (``summary["lead_sets"]``, a model of reduced lead sets): one row per lead set."""
    rows = summary.get("lead_sets")
    if not rows:
        return []
    per_set = (summary.get("config") or {}).get("lead_networks", "per_set") == "per_set" and len(rows) > 1
    design = (f"one ensemble per lead set, each with its own results directory and report (`{LEAD_SET_DIR.format('12')}/`, ...)"
              if per_set else "one network for every lead set")
    lines = ["## Lead sets", "",
             f"The model reads {len(rows)} lead sets ({design}); each row scores the same {summary['records']} held-out records "
             "read through that set alone, with the fold's thresholds.", "",
             "| lead set | leads | challenge score | AUROC | AUPRC | F-measure | challenge score per fold (mean ± sd) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['leads']} | {_score_cells(row['pooled'])} | {row['fold_mean']:.3f} ± {row['fold_sd']:.3f} |")
    return lines + [""]


def _figure_lead_sets(summary: dict, path: Path) -> str | None:
    rows = summary.get("lead_sets")
    if not rows:
        return None
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, [row["pooled"]["Challenge metric"] for row in rows], width=0.4, yerr=[row["fold_sd"] for row in rows],
           capsize=3, label="challenge score")
    ax.bar(x + 0.2, [row["pooled"]["AUROC"] for row in rows], width=0.4, label="AUROC")
    ax.set_xticks(x, [f"{row['name']} leads" if row["name"].isdigit() else row["name"] for row in rows])
    ax.set_ylim(0, 1.05)
    ax.set_title("The model on each of its lead sets (pooled out-of-fold)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _per_class_table(abbreviations: tuple[str, ...], counts: np.ndarray, stats: dict[str, np.ndarray],
                     thresholds_mean: np.ndarray | None) -> list[str]:
    lines = ["| class | n | prevalence | sensitivity | specificity | F1 | AUROC | AUPRC | threshold |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, name in enumerate(abbreviations):
        threshold = _fmt(thresholds_mean[c]) if thresholds_mean is not None else "n/a"
        cells = " | ".join(_fmt(stats[key][c]) for key in ("prevalence", "sensitivity", "specificity", "F1", "AUROC", "AUPRC"))
        lines.append(f"| {name} | {counts[c]} | {cells} | {threshold} |")
    return lines


def render_report(results_dir: Path) -> Path:
    """Write ``report.md`` and its figures into ``results_dir``; returns the report's path."""
    results_dir = Path(results_dir)
    oof = read_oof(results_dir)
    summary = read_summary(results_dir) if (results_dir / SUMMARY_FILE).is_file() else {}
    thresholds = read_thresholds(results_dir) if (results_dir / THRESHOLDS_FILE).is_file() else {}
    thresholds_mean = np.mean(list(thresholds.values()), axis=0) if thresholds else None
    figures = results_dir / FIGURE_DIR
    figures.mkdir(exist_ok=True)
    lines = header_lines(results_dir, oof, summary) + ["", "## Scores", ""]
    lines += _summary_lines(oof, summary)
    stats = metrics.per_class(oof.labels, oof.outputs, oof.probabilities)
    lines += ["", *by_source_lines(summary), *lead_set_lines(summary)]
    lines += ["## Per class", "", *_per_class_table(oof.classes.abbreviations, oof.labels.sum(axis=0), stats, thresholds_mean), ""]
    sections = [
        ("Per-class bars", _figure_per_class(oof.classes.abbreviations, stats, thresholds_mean, figures / "per_class.png")),
        ("ROC curves", _figure_curves(oof, stats, figures / "roc.png", "roc")),
        ("Precision-recall curves", _figure_curves(oof, stats, figures / "pr.png", "pr")),
        ("Where the reward is lost", _figure_confusion(oof, figures / "confusion.png")),
        ("Score against one global threshold", _figure_thresholds(oof, summary.get("ablations", {}).get("global"), figures / "thresholds.png")),
        ("Learning curves", _figure_learning(results_dir, figures / "learning.png")),
        ("Scores per lead set", _figure_lead_sets(summary, figures / "lead_sets.png")),
    ]
    for title, name in sections:
        if name:
            lines += [f"## {title}", "", f"![{title}]({FIGURE_DIR}/{name})", "", CAPTIONS[title], ""]
    lines += label_issue_section(results_dir, figures) + lead_importance_section(results_dir, figures)
    path = results_dir / REPORT_FILE
    atomic_write_text(path, "\n".join(lines))
    log.info("report written to %s", path)
    return path
