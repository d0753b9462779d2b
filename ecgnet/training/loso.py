"""Leave-one-source-out evaluation (``python -m ecgnet loso DATA_DIR``): cross-validation with each source held out in turn.

A model scored on folds that mix every source never meets a recorder it has not seen;
the 2020 test did exactly that (the seed: 0.684 in its own cross-validation, 0.412 on
the unreleased test source). Here each source (``records.files.source_of``: the record name's
letter prefix) is held out in turn: fold model k trains on every record outside group k,
takes its checkpoint and thresholds from an inner split of those training sources
(``train.inner_split``, stratified by source and labels), and predicts group k only.

The rule for small sources, with N = ``min_records`` labelled records (default 50, fewer
make a per-source score mostly noise):

1. a source with at least N labelled records, whose removal leaves at least N to train
   on, is held out on its own;
2. the other sources are pooled into one group, ``merged: A+B``, held out together when
   it reaches N and leaves N;
3. otherwise those sources are skipped: every fold trains on them, none scores them.

At least two held-out groups are needed. The models, out-of-fold predictions and summary
live in ``OUT/by_source/`` (a results and model directory of its own, sharing
``OUT/cache``); the per-source table goes into ``OUT/summary.json`` as ``by_source``,
beside the ordinary stratified folds of ``OUT``.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnet.config import Config
from ecgnet.errors import AnalysisError, TooFewRecordsError
from ecgnet.fileio import MANIFEST, write_summary
from ecgnet.training.crossval import CACHE_DIR, cross_validate, cross_validate_from_arguments
from ecgnet.training.crossval import add_arguments as add_cv_arguments
from ecgnet.training.train import labelled_records, training_cache

MIN_SOURCE_RECORDS = 50
BY_SOURCE_DIR = "by_source"
SCORES = ("Challenge metric", "AUROC", "AUPRC", "F-measure", "Sensitivity", "Specificity")


@dataclass
class SourceGroups:
    """Which sources are held out together (fold k = ``held_out``'s k-th group) and which are never held out."""

    held_out: dict[str, list[str]]  # group name -> its sources
    skipped: list[str]
    counts: dict[str, int]  # labelled records per source
    min_records: int

    def fold_of(self, source: str) -> int:
        """The fold that holds ``source`` out, or -1 when it is skipped (trained on by every fold)."""
        for k, members in enumerate(self.held_out.values()):
            if source in members:
                return k
        return -1

    def rule(self) -> str:
        """The grouping rule and its outcome, in one sentence for the report."""
        merged = ["+".join(s or "(no prefix)" for s in members) for name, members in self.held_out.items() if name.startswith("merged: ")]
        text = (f"A source is held out on its own when it has at least {self.min_records} labelled records and leaves as many to "
                "train on; smaller sources are pooled into one merged group held out under the same rule, else skipped "
                "(trained on by every fold, scored by none).")
        text += f" Merged: {', '.join(merged) or 'none'}. Skipped: "
        return text + (", ".join(f"{s or '(no prefix)'} ({self.counts[s]} records)" for s in self.skipped) or "none") + "."


def group_sources(sources: Sequence[str], min_records: int = MIN_SOURCE_RECORDS) -> SourceGroups:
    """Apply the module's rule to the sources of the labelled records (one entry per record).

    Raises ``TooFewRecordsError`` when fewer than two groups can be held out.
    """
    if min_records < 1:
        raise ValueError(f"min_records must be at least 1, got {min_records}")
    counts = Counter(str(s) for s in sources)
    total = sum(counts.values())
    fits = lambda n: n >= min_records and total - n >= min_records  # noqa: E731
    held_out = {source: [source] for source in sorted(counts) if fits(counts[source])}
    small = sorted(s for s in counts if s not in held_out)
    skipped: list[str] = []
    if len(small) > 1 and fits(sum(counts[s] for s in small)):
        held_out["merged: " + "+".join(s or "(no prefix)" for s in small)] = small
    else:
        skipped = small
    if len(held_out) < 2:
        raise TooFewRecordsError(
            f"leave-one-source-out needs two groups of at least {min_records} labelled records each; the sources have "
            + ", ".join(f"{s or '(no prefix)'} {n}" for s, n in sorted(counts.items())) + " (lower --min-source-records?)")
    return SourceGroups(held_out, skipped, dict(counts), min_records)


def _check_earlier_run(out: Path, assignment: dict[str, int]) -> None:
    """Refuse a results directory whose fold models held out other groups (their weights would be reused wrongly)."""
    manifest = out / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text())["data"]["fold_assignment"] != assignment:
        raise AnalysisError(f"{out}: its fold models held out other source groups than these records and "
                                 "--min-source-records give; use a new --out directory (or delete this one)")


def leave_one_source_out(data_dir: str | Path, out_dir: str | Path, config: Config, min_records: int = MIN_SOURCE_RECORDS,
                         thresholding: str = "constrained") -> dict:
    """Train (or resume) one model per held-out source group in ``OUT/by_source`` and return the ``by_source`` section.

    The section: ``rule``, ``groups`` (per group: fold, sources, records and the ``SCORES``
    on its held-out records), ``pooled`` (the same scores over all held-out records), the
    ``mean`` and ``sd`` of the groups' challenge scores, ``skipped`` and ``results_dir``.
    """
    out = Path(out_dir)
    cache_root = out / CACHE_DIR
    cache = training_cache(data_dir, cache_root, config)  # labelled in the config's class set, as training reads them
    usable = labelled_records(cache)
    groups = group_sources([str(s) for s in cache.sources[usable]], min_records)
    fold = {str(n): groups.fold_of(str(s)) for n, s in zip(cache.names[usable], cache.sources[usable])}
    del cache
    _check_earlier_run(out / BY_SOURCE_DIR, fold)
    summary = cross_validate(data_dir, out / BY_SOURCE_DIR, config.replace(n_folds=len(groups.held_out)), thresholding,
                             assign=lambda names, labels: np.array([fold[n] for n in names]), cache_root=cache_root)
    if not summary:  # a torchrun rank other than 0 (cross_validate: rank 0 alone predicts and scores)
        return {}
    rows = []
    for k, (name, members) in enumerate(groups.held_out.items()):
        scores = summary["per_fold"][str(k)]
        rows.append({"group": name, "fold": k, "sources": members, "records": sum(groups.counts[s] for s in members),
                     **{key: scores[key] for key in SCORES}})
    challenge = np.array([row["Challenge metric"] for row in rows])
    return {"rule": groups.rule(), "min_records": min_records, "groups": rows,
            "pooled": {key: summary["pooled"][key] for key in SCORES}, "records": summary["records"],
            "mean": float(challenge.mean()), "sd": float(challenge.std(ddof=1)), "skipped": groups.skipped,
            "results_dir": BY_SOURCE_DIR}


def format_by_source(section: dict) -> str:
    """Console lines: one per held-out group, then the pooled figure."""
    lines = [f"leave one source out ({section['records']} held-out records; details in {section['results_dir']}/):"]
    lines += [f"  {row['group'] or '(no prefix)'}: {row['records']} records, challenge score {row['Challenge metric']:.3f}, "
              f"AUROC {row['AUROC']:.3f}" for row in section["groups"]]
    pooled = section["pooled"]
    lines.append(f"  pooled: challenge score {pooled['Challenge metric']:.3f}, AUROC {pooled['AUROC']:.3f}; per source "
                 f"{section['mean']:.3f} ± {section['sd']:.3f} (mean ± sd); skipped: {', '.join(section['skipped']) or 'none'}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``loso`` sub-command's arguments: those of ``cv``, and the smallest source group held out."""
    add_cv_arguments(parser)
    parser.add_argument("--min-source-records", type=int, default=MIN_SOURCE_RECORDS, metavar="N",
                        help=f"fewest labelled records a held-out source group needs (default {MIN_SOURCE_RECORDS})")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet loso``: ``cv``'s stratified folds, then each source held out in turn; both in ``OUT/summary.json``."""
    config, out, summary = cross_validate_from_arguments(args)
    if summary is None:
        return 0
    by_source = leave_one_source_out(args.data_dir, out, config, args.min_source_records, thresholding=args.thresholding)
    if summary:  # empty on a torchrun rank other than 0: it helped train, rank 0 writes
        summary["by_source"] = by_source
        write_summary(out, summary)
        print(format_by_source(by_source))
    return 0
