"""`python -m ecgnet label-issues RESULTS_DIR`: which training labels look wrong, per class.

Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) in cleanlab's multi-label
mode, on the out-of-fold probabilities that ``cv`` writes (each record scored by the
one fold model that never saw it, as the method requires):

- ``label_quality`` (N, 24): cleanlab's per-class self-confidence, the out-of-fold
  probability of the label as given (p for a given 1, 1 - p for a given 0); low means
  doubtful. ``rank`` orders the records of each class by it (1 = most doubtful).
- ``is_issue`` (N, 24): cleanlab's confident-learning verdict (``prune_by_noise_rate``),
  computed for classes with both given values present, False elsewhere.

The seed paper (Zhao et al., CinC 2020) found much of its left-axis-deviation "error"
to be label noise; this ranks every record of every class so such labels can be
re-read (``python -m ecgnet review --kind label-issues``). ``label_issues.csv`` has
one row per (record, class): record, class (abbreviation), code (SNOMED CT),
given_label (0/1), probability, label_quality, rank.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.challenge.classes import ClassSet
from ecgnet.fileio import OutOfFold, read_oof, write_csv

LABEL_ISSUES_FILE = "label_issues.csv"
COLUMNS = ("record", "class", "code", "given_label", "probability", "label_quality", "rank")


@dataclass
class LabelIssues:
    """The ranking of every (record, class) label; arrays are (N, C) in the order of ``classes`` (the results' class set)."""

    records: list[str]
    labels: np.ndarray  # bool, as given
    probabilities: np.ndarray  # out-of-fold
    quality: np.ndarray  # float in [0, 1]
    is_issue: np.ndarray  # bool
    rank: np.ndarray  # int, 1 = most doubtful within the class
    classes: ClassSet

    def rows(self) -> list[dict]:
        """One dict per (record, class), class by class, most doubtful first; keys ``COLUMNS`` + is_issue."""
        out = []
        for c, (abbr, code) in enumerate(zip(self.classes.abbreviations, self.classes.codes)):
            for i in np.argsort(self.rank[:, c], kind="stable"):
                out.append({"record": self.records[i], "class": abbr, "code": code,
                            "given_label": int(self.labels[i, c]), "probability": float(self.probabilities[i, c]),
                            "label_quality": float(self.quality[i, c]), "rank": int(self.rank[i, c]),
                            "is_issue": bool(self.is_issue[i, c])})
        return out


def _within_class_rank(quality: np.ndarray, records: list[str]) -> np.ndarray:
    """1-based rank of each record within each class column, lowest quality first, ties by record name."""
    names = np.argsort(np.argsort(np.array(records), kind="stable"), kind="stable")
    rank = np.empty(quality.shape, dtype=np.int64)
    for c in range(quality.shape[1]):
        order = np.lexsort((names, quality[:, c]))
        rank[order, c] = np.arange(1, len(order) + 1)
    return rank


def rank_label_issues(oof: OutOfFold) -> LabelIssues:
    """Rank the given labels of ``oof`` by cleanlab's per-class label quality (see the module doc)."""
    from cleanlab.multilabel_classification.filter import find_multilabel_issues_per_class
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    labels = np.asarray(oof.labels, dtype=bool)
    probabilities = np.clip(np.asarray(oof.probabilities, dtype=np.float64), 0.0, 1.0)
    count = oof.classes.num_classes
    if labels.shape != probabilities.shape or labels.ndim != 2 or labels.shape[1] != count:
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} must both be (N, {count})")
    given = [list(np.flatnonzero(row)) for row in labels]
    quality = np.asarray(get_label_quality_scores_per_class(given, probabilities), dtype=np.float64)  # (N, C)
    is_issue = np.zeros(labels.shape, dtype=bool)
    # Confident learning needs both given values in a class to estimate its noise rates.
    mixed = np.flatnonzero(labels.any(axis=0) & ~labels.all(axis=0))
    if len(mixed):
        sub = [list(np.flatnonzero(row[mixed])) for row in labels]
        masks = find_multilabel_issues_per_class(sub, probabilities[:, mixed], n_jobs=1)
        is_issue[:, mixed] = np.asarray(masks, dtype=bool)  # (N, len(mixed))
    return LabelIssues(list(oof.records), labels, probabilities, quality, is_issue, _within_class_rank(quality, list(oof.records)),
                       oof.classes)


def write_label_issues(results_dir: Path, issues: LabelIssues) -> Path:
    """Write ``label_issues.csv`` (``COLUMNS``) atomically into ``results_dir``."""
    rows = ([row[k] if k not in ("probability", "label_quality") else repr(row[k]) for k in COLUMNS] for row in issues.rows())
    return write_csv(Path(results_dir) / LABEL_ISSUES_FILE, COLUMNS, rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``label-issues`` sub-command's arguments: the cv results folder and how many rows to print."""
    parser.add_argument("results_dir", type=Path, help="a directory written by `python -m ecgnet cv` (holds oof_predictions.csv)")
    parser.add_argument("--top", type=int, default=10, help="doubtful labels to print (default 10)")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet label-issues``: write ``label_issues.csv`` into the results folder; exit 0."""
    issues = rank_label_issues(read_oof(args.results_dir))
    path = write_label_issues(args.results_dir, issues)
    print(f"{len(issues.records)} records x {issues.classes.num_classes} classes ranked; cleanlab flags "
          f"{int(issues.is_issue.sum())} labels as likely wrong; written to {path}")
    for line in _top_table(issues, args.top):
        print(line)
    return 0


def _top_table(issues: LabelIssues, top: int) -> list[str]:
    flat = np.argsort(issues.quality, axis=None, kind="stable")[:top]
    lines = ["| record | class | given | out-of-fold probability | label quality | flagged |", "|---|---|---:|---:|---:|---|"]
    for i, c in zip(*np.unravel_index(flat, issues.quality.shape)):
        lines.append(f"| {issues.records[i]} | {issues.classes.abbreviations[c]} | {int(issues.labels[i, c])} | "
                     f"{issues.probabilities[i, c]:.3f} | {issues.quality[i, c]:.3f} | {'yes' if issues.is_issue[i, c] else ''} |")
    return lines


def _figure(issues: LabelIssues, path: Path) -> str:
    from ecgnet.analysis.plot import plt, save_figure  # matplotlib (Agg backend) only when a figure is drawn

    x = np.arange(issues.classes.num_classes)
    given_1 = (issues.is_issue & issues.labels).sum(axis=0)
    given_0 = (issues.is_issue & ~issues.labels).sum(axis=0)
    fig, ax = plt.subplots(figsize=(13, 4))
    ax.bar(x, given_1, label="given 1, looks absent")
    ax.bar(x, given_0, bottom=given_1, label="given 0, looks present")
    ax.set_xticks(x, issues.classes.abbreviations, rotation=60)
    ax.set_ylabel("labels flagged by cleanlab")
    ax.set_title("Likely label issues per class (confident learning on out-of-fold probabilities)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path, dpi=110, tight=True).name


def report_section(results_dir: Path, figure_dir: Path, top: int = 15) -> list[str]:
    """The report's Markdown lines on label issues; (re)writes label_issues.csv and the figure."""
    issues = rank_label_issues(read_oof(results_dir))
    write_label_issues(results_dir, issues)
    name = _figure(issues, Path(figure_dir) / "label_issues.png")
    return ["## Label issues", "",
            f"cleanlab (confident learning, multi-label) flags {int(issues.is_issue.sum())} of "
            f"{issues.labels.size} given labels as likely wrong, from the out-of-fold probabilities. Every "
            f"(record, class) is ranked in [`{LABEL_ISSUES_FILE}`]({LABEL_ISSUES_FILE}) (rank 1 = most doubtful in its "
            "class); the most doubtful overall:", "", *_top_table(issues, top), "",
            f"![label issues per class]({Path(figure_dir).name}/{name})", ""]
