"""Does the label-issue ranking find labels that are wrong? Flip some on purpose and see.

Usage: .venv/bin/python experiments/label_issues.py [--out runs/bench-label-issues] [--n 1500]
       [--rate 0.05] [--classes LAD AF IAVB] [--config demo] [--seed 0] [--smoke]

1. writes ``n`` synthetic records (10 s, 500 Hz, as in the demo);
2. flips labels in the headers' ``#Dx`` (what cv trains on): for each chosen class,
   ``rate`` x its positives lose the label and as many negatives gain it (records whose
   only label is that class are not stripped, so every record stays labelled); the
   truth is kept in ``flips.csv``;
3. cross-validates (``ecgnet.training.crossval``, resumable) and ranks the labels with
   ``ecgnet.analysis.labelissues``;
4. prints, per class, precision and recall at k of the flipped records (k = the number
   flipped, and 2x that), the same for cleanlab's own issue set, and chance (the
   flipped fraction of all records).
A rerun reuses the data, the flips and every finished fold. ``--smoke`` (the suite's check):
60 records, a quarter of the positives flipped, 2 folds of the ``smoke`` preset trained 1 epoch
each (a new ``--out`` each time).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecgnet.analysis.labelissues import rank_label_issues, write_label_issues  # noqa: E402
from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES  # noqa: E402
from ecgnet.config import load_config  # noqa: E402
from ecgnet.fileio import read_oof  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402
from ecgnet.training.crossval import cross_validate  # noqa: E402

CODE = dict(zip(ABBREVIATIONS, CLASSES))


def _dx(header: Path) -> list[str]:
    """The SNOMED codes of a header's ``#Dx`` line."""
    line = next(x for x in header.read_text().splitlines() if x.startswith("#Dx:"))
    return [c.strip() for c in line[4:].split(",") if c.strip()]


def _write_dx(header: Path, codes: list[str]) -> None:
    """Rewrite a header's ``#Dx`` line with ``codes``."""
    lines = header.read_text().splitlines()
    lines = [f"#Dx: {','.join(codes)}" if x.startswith("#Dx:") else x for x in lines]
    header.write_text("\n".join(lines) + "\n")


def flip_labels(headers: list[Path], classes: list[str], rate: float, rng: np.random.Generator) -> list[tuple[str, str, int]]:
    """Flip labels in place; returns (record, class, given label after the flip) per flip."""
    dx = {h: _dx(h) for h in headers}
    touched: set[Path] = set()  # one flip per record at most: the truth stays unambiguous
    flips = []
    for abbr in classes:
        code = CODE[abbr]
        positives = [h for h in headers if code in dx[h]]
        m = int(round(rate * len(positives)))
        strippable = [h for h in positives if len(dx[h]) > 1 and h not in touched]
        negatives = [h for h in headers if code not in dx[h] and h not in touched]
        for h in [strippable[i] for i in rng.choice(len(strippable), m, replace=False)]:
            dx[h] = [c for c in dx[h] if c != code]
            touched.add(h)
            flips.append((h.stem, abbr, 0))
        for h in [negatives[i] for i in rng.choice(len(negatives), m, replace=False)]:
            dx[h] = dx[h] + [code]
            touched.add(h)
            flips.append((h.stem, abbr, 1))
    for h in touched:
        _write_dx(h, dx[h])
    return flips


def prepare(out: Path, n: int, classes: list[str], rate: float, seed: int, workers: int | None = None) -> list[tuple[str, str, int]]:
    """The flipped data set, generated once; a rerun with the same parameters reuses it."""
    params = {"n": n, "classes": classes, "rate": rate, "seed": seed}
    data, params_path, flips_path = out / "data", out / "params.json", out / "flips.csv"
    if params_path.is_file() and json.loads(params_path.read_text()) == params and flips_path.is_file():
        with open(flips_path, newline="") as handle:
            return [(r["record"], r["class"], int(r["given_label"])) for r in csv.DictReader(handle)]
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out}: holds another benchmark's files; choose a new --out")
    headers = generate_dataset(data, n, seed=seed, workers=workers, fs_choices=[500], duration_range=(10, 10))
    flips = flip_labels(headers, classes, rate, np.random.default_rng(seed))
    with open(flips_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record", "class", "given_label"])
        writer.writerows(flips)
    params_path.write_text(json.dumps(params) + "\n")
    return flips


def at_k(ranked: list[str], truth: set[str], k: int) -> tuple[float, float]:
    """(precision, recall) of the first ``k`` of ``ranked`` against ``truth``."""
    if not k:  # no flip of this class (small runs)
        return float("nan"), float("nan")
    hits = len(set(ranked[:k]) & truth)
    return hits / k, hits / len(truth)


def evaluate(out: Path, flips: list[tuple[str, str, int]], classes: list[str]) -> list[str]:
    """Rank the cv run's labels and return the Markdown table of what the ranking finds of ``flips``."""
    issues = rank_label_issues(read_oof(out / "model"))
    write_label_issues(out / "model", issues)
    table = issues.rows()
    n_records = len({r["record"] for r in table})
    lines = ["| class | records | flipped | chance | precision@k | recall@k | precision@2k | recall@2k "
             "| cleanlab issues | their precision | their recall |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for abbr in [*classes, "all"]:
        chosen = classes if abbr == "all" else [abbr]
        truth = {(r, c) for r, c, _ in flips if c in chosen}
        rows = sorted((r for r in table if r["class"] in chosen), key=lambda r: r["label_quality"])
        ranked = [(r["record"], r["class"]) for r in rows]
        flagged = {(r["record"], r["class"]) for r in rows if r["is_issue"]}
        k = len(truth)
        p1, r1 = at_k(ranked, truth, k)
        p2, r2 = at_k(ranked, truth, 2 * k)
        fp = len(flagged & truth) / len(flagged) if flagged else float("nan")
        fr = len(flagged & truth) / len(truth) if truth else float("nan")
        lines.append(f"| {abbr} | {n_records} | {k} | {k / (n_records * len(chosen)):.3f} | {p1:.2f} | {r1:.2f} "
                     f"| {p2:.2f} | {r2:.2f} | {len(flagged)} | {fp:.2f} | {fr:.2f} |")
    return lines


def main() -> None:
    """Flip, cross-validate, rank and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-label-issues"))
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--classes", nargs="+", default=["LAD", "AF", "IAVB"])
    parser.add_argument("--config", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="60 records, 2 folds of the smoke preset, 1 epoch (the suite's check)")
    args = parser.parse_args()
    config = load_config("smoke" if args.smoke else args.config).replace(seed=args.seed)
    if args.smoke:
        # one process throughout: each worker process would spend seconds importing torch
        args.n, args.rate, config = 60, 0.25, config.replace(epochs=1, lr_milestones=(1,), n_folds=2, inner_folds=2, workers=1)
    began = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    flips = prepare(args.out, args.n, args.classes, args.rate, args.seed, workers=1 if args.smoke else None)
    cross_validate(args.out / "data", args.out / "model", config)
    print(f"{args.n} records, {len(flips)} labels flipped ({args.rate:.0%} of the positives of "
          f"{', '.join(args.classes)}, each way); cv + ranking {time.time() - began:.0f} s")
    print("\n".join(evaluate(args.out, flips, args.classes)))


if __name__ == "__main__":
    main()
