"""`python -m ecgnet report RESULTS_DIR`: a Markdown report with PNG figures from a cv run.

Everything is recomputed from the files of the results directory (see ``results.py``),
so a report can be re-rendered at any time, on any machine, without the models.
"""
from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import metrics  # noqa: E402
from .classes import ABBREVIATIONS, NUM_CLASSES, load_weights  # noqa: E402
from .fileio import atomic_write_text  # noqa: E402
from .labelissues import report_section as label_issue_section  # noqa: E402
from .leadimportance import report_section as lead_importance_section  # noqa: E402
from .results import OutOfFold, read_oof, read_summary, read_thresholds  # noqa: E402
from .thresholds import top_class_mask  # noqa: E402

log = logging.getLogger(__name__)

# The seed paper's 5-fold cross-validation challenge scores (Zhao et al., CinC 2020).
SEED_PAPER_CV = {"none": 0.630, "global": 0.675, "constrained": 0.684}
ABLATION_NAMES = {
    "none": "no thresholds (0.5, top class forced)",
    "global": "one global threshold",
    "constrained": "constrained per-class search",
}
REPORT_FILE = "report.md"
FIGURE_DIR = "figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", type=Path, help="a directory written by `python -m ecgnet cv` or `demo`")


def run(args: argparse.Namespace) -> int:
    path = render_report(args.results_dir)
    print(f"report: {path}")
    return 0


def modified_confusion(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The challenge metric's matrix A: each record adds 1/|labels ∪ outputs| to every (true, output) pair."""
    union = np.maximum((labels | outputs).sum(axis=1), 1).astype(float)
    return (labels / union[:, None]).T.astype(float) @ outputs.astype(float)


def _save(fig: plt.Figure, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path.name


def _figure_per_class(stats: dict[str, np.ndarray], thresholds_mean: np.ndarray | None, path: Path) -> str:
    x = np.arange(NUM_CLASSES)
    fig, ax = plt.subplots(figsize=(13, 4.5))
    for offset, name in zip((-0.3, -0.1, 0.1, 0.3), ("sensitivity", "specificity", "F1", "AUROC")):
        ax.bar(x + offset, np.nan_to_num(stats[name]), width=0.2, label=name)
    if thresholds_mean is not None:
        ax.plot(x, thresholds_mean, "k_", markersize=14, label="mean threshold")
    ax.set_xticks(x, ABBREVIATIONS, rotation=60)
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class results (out-of-fold)")
    ax.legend(ncol=5, loc="lower left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _figure_curves(oof: OutOfFold, path: Path, kind: str) -> str:
    fig, axes = plt.subplots(4, 6, figsize=(15, 10), sharex=True, sharey=True)
    for c, ax in enumerate(axes.ravel()):
        positives = oof.labels[:, c]
        ax.set_title(f"{ABBREVIATIONS[c]} (n={int(positives.sum())})", fontsize=9)
        if positives.all() or not positives.any():
            ax.text(0.5, 0.5, "undefined", ha="center", va="center", fontsize=8)
            continue
        recall, specificity, precision = metrics.class_curve(positives, oof.probabilities[:, c])
        if kind == "roc":
            ax.plot(1.0 - specificity, recall, lw=1.2)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
        else:
            ax.step(recall, np.r_[1.0, precision], where="post", lw=1.2)
            ax.axhline(positives.mean(), color="grey", lw=0.5, ls="--")
    label = ("false-positive rate", "sensitivity") if kind == "roc" else ("recall", "precision")
    fig.supxlabel(label[0])
    fig.supylabel(label[1])
    fig.suptitle("ROC curves per class" if kind == "roc" else "Precision-recall curves per class (dashed: prevalence)")
    fig.tight_layout()
    return _save(fig, path)


def _figure_confusion(oof: OutOfFold, path: Path) -> str:
    weights = load_weights()
    matrix = modified_confusion(oof.labels, oof.outputs)
    lost = matrix * (1.0 - weights)
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    for ax, data, title in ((axes[0], matrix, "Challenge confusion matrix A (rows: truth, columns: output)"), (axes[1], lost, "Reward lost: A x (1 - W)")):
        image = ax.imshow(data, cmap="viridis" if ax is axes[0] else "magma")
        ax.set_xticks(range(NUM_CLASSES), ABBREVIATIONS, rotation=90, fontsize=7)
        ax.set_yticks(range(NUM_CLASSES), ABBREVIATIONS, fontsize=7)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def global_threshold_curve(oof: OutOfFold, steps: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Pooled challenge score with one threshold for every class (top class always on)."""
    grid = np.linspace(0.0, 1.0, steps)
    candidates = (oof.probabilities[None] >= grid[:, None, None]) | top_class_mask(oof.probabilities)[None]
    return grid, np.asarray(metrics.ChallengeMetric(oof.labels).score(candidates))


def _figure_thresholds(oof: OutOfFold, path: Path) -> str:
    grid, scores = global_threshold_curve(oof)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, scores)
    best = int(np.argmax(scores))
    ax.plot(grid[best], scores[best], "o", label=f"best {scores[best]:.3f} at {grid[best]:.2f}")
    ax.set_xlabel("global threshold")
    ax.set_ylabel("challenge score (pooled out-of-fold)")
    ax.grid(alpha=0.3)
    ax.legend()
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
    logs = sorted(results_dir.glob("folds/fold_*/epochs.csv"))
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


def _summary_lines(oof: OutOfFold, summary: dict) -> list[str]:
    pooled = metrics.with_sensitivity_specificity(oof.labels, oof.outputs, oof.probabilities)
    lines = [
        f"Records: {len(oof.records)} in {len(np.unique(oof.folds))} folds; sources: "
        + ", ".join(f"{s} {oof.sources.count(s)}" for s in sorted(set(oof.sources))),
        "",
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


def _per_class_table(stats: dict[str, np.ndarray], thresholds_mean: np.ndarray | None) -> list[str]:
    lines = ["| class | prevalence | sensitivity | specificity | F1 | AUROC | threshold |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c, name in enumerate(ABBREVIATIONS):
        threshold = _fmt(thresholds_mean[c]) if thresholds_mean is not None else "n/a"
        cells = " | ".join(_fmt(stats[key][c]) for key in ("prevalence", "sensitivity", "specificity", "F1", "AUROC"))
        lines.append(f"| {name} | {cells} | {threshold} |")
    return lines


def render_report(results_dir: Path) -> Path:
    """Write ``report.md`` and its figures into ``results_dir``; returns the report's path."""
    results_dir = Path(results_dir)
    oof = read_oof(results_dir)
    summary = read_summary(results_dir) if (results_dir / "summary.json").is_file() else {}
    thresholds = read_thresholds(results_dir) if (results_dir / "thresholds.csv").is_file() else {}
    thresholds_mean = np.mean(list(thresholds.values()), axis=0) if thresholds else None
    figures = results_dir / FIGURE_DIR
    figures.mkdir(exist_ok=True)
    lines = ["# ecgnet cross-validation report", ""]
    lines += _summary_lines(oof, summary)
    stats = metrics.per_class(oof.labels, oof.outputs, oof.probabilities)
    lines += ["", "## Per class", "", *_per_class_table(stats, thresholds_mean), ""]
    sections = [
        ("Per-class bars", _figure_per_class(stats, thresholds_mean, figures / "per_class.png")),
        ("ROC curves", _figure_curves(oof, figures / "roc.png", "roc")),
        ("Precision-recall curves", _figure_curves(oof, figures / "pr.png", "pr")),
        ("Where the reward is lost", _figure_confusion(oof, figures / "confusion.png")),
        ("Score against one global threshold", _figure_thresholds(oof, figures / "thresholds.png")),
        ("Learning curves", _figure_learning(results_dir, figures / "learning.png")),
    ]
    for title, name in sections:
        if name:
            lines += [f"## {title}", "", f"![{title}]({FIGURE_DIR}/{name})", ""]
    lines += label_issue_section(results_dir, figures) + lead_importance_section(results_dir, figures)
    path = results_dir / REPORT_FILE
    atomic_write_text(path, "\n".join(lines))
    log.info("report written to %s", path)
    return path
