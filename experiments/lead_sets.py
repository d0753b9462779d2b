"""One network for every lead set, or one network per lead set? Both designs, cross-validated on the same records.

Usage: .venv/bin/python experiments/lead_sets.py [--out runs/exp-lead-sets] [--n 1000] [--folds 3]
       [--config demo] [--seed 0] [--smoke]

The 2021 challenge runs every model on five lead sets (``ecgnet.leads.LEAD_SETS_2021``).
Its winner trained one network per set; ecgnet can also train one network for all of them
(``lead_sets: "2021"``: each training window read through a randomly drawn set, the other
leads zeroed, a 12-value lead-presence vector beside age and sex). This script

1. writes ``n`` synthetic records with the 2021 classes (10 s, 500 Hz, as the demo's);
2. cross-validates the shared design once (``challenge: "2021"``, ``lead_sets: "2021"``) and
   the per-set design once per lead set (``lead_sets`` that set alone), all with the same
   folds, seed and preset (``ecgnet.training.crossval``: resumable, a rerun reuses every fold);
3. prints, per lead set, each design's pooled out-of-fold challenge score and AUROC, the
   per-fold difference of the challenge scores (mean ± standard error, the folds paired),
   and each design's training time (the sum of its folds' own seconds, ``result.json``:
   epochs and the inner split's scoring, which the shared design does on every lead set).

``--smoke`` (the suite's check): 40 records, 2 folds of the ``smoke`` preset, one epoch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, print_table  # noqa: E402
from ecgnet.config import load_config  # noqa: E402
from ecgnet.fileio import FOLD_RESULT, FOLDS_DIR  # noqa: E402
from ecgnet.leads import LEAD_SETS_2021, lead_set_name  # noqa: E402
from ecgnet.synth import generate_dataset  # noqa: E402
from ecgnet.training.crossval import cross_validate  # noqa: E402


def _run(data: Path, out: Path, config) -> tuple[dict, float]:
    """(the cv summary, the sum of its folds' own training seconds) of ``config`` on ``data`` into ``out``; the runs
    share one record cache (``out``'s parent's ``cache``)."""
    summary = cross_validate(data, out, config, cache_root=out.parent / "cache")
    return summary, sum(json.loads(path.read_text())["seconds"] for path in (out / FOLDS_DIR).glob(f"fold_*/{FOLD_RESULT}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/exp-lead-sets"))
    parser.add_argument("--n", type=int, default=1000, help="synthetic records (default 1000)")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    parser.add_argument("--config", default="demo", help="preset or JSON file (default demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="the suite's check: 40 records, 2 folds, smoke preset, 1 epoch")
    args = parser.parse_args(argv)
    config = load_config("smoke" if args.smoke else args.config).replace(n_folds=2 if args.smoke else args.folds, seed=args.seed,
                                                                         challenge="2021")
    if args.smoke:
        config = config.replace(epochs=1, lr_milestones=(1,), inner_folds=2, threads=1)
    n = 40 if args.smoke else args.n
    data = args.out / "data"
    if not (data / "SYN00001.hea").is_file():
        generate_dataset(data, n, seed=args.seed, workers=1 if args.smoke else None, fs_choices=[500], duration_range=(10, 10),
                         challenge="2021")
    shared, shared_seconds = _run(data, args.out / "shared", config.replace(lead_sets="2021"))
    rows, per_set_seconds = [], 0.0
    for row in shared["lead_sets"]:
        leads = tuple(row["leads"].split(","))
        alone, seconds = _run(data, args.out / f"per_set_{lead_set_name(leads)}", config.replace(lead_sets=row["leads"]))
        per_set_seconds += seconds
        own = alone["lead_sets"][0]
        difference = np.array([row["per_fold"][k] - own["per_fold"][k] for k in row["per_fold"]])
        error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
        rows.append([row["name"], row["leads"], f"{row['pooled']['Challenge metric']:.3f}", f"{row['pooled']['AUROC']:.3f}",
                     f"{own['pooled']['Challenge metric']:.3f}", f"{own['pooled']['AUROC']:.3f}",
                     f"{difference.mean():+.3f} ± {error:.3f}"])
    assert len(rows) == len(LEAD_SETS_2021)
    print(f"{shared['records']} synthetic 2021 records, {config.n_folds} folds, preset {args.config if not args.smoke else 'smoke'}; "
          f"{machine(config.threads or None)}")
    print_table(["lead set", "leads", "one network: challenge", "AUROC", "one per set: challenge", "AUROC",
                 "difference per fold (one - per set)"], rows, "llrrrrr")
    print_table(["design", "networks per fold", "training time (folds' own seconds)"],
                [["one network for every lead set", 1, f"{shared_seconds:.0f}"],
                 ["one network per lead set", len(rows), f"{per_set_seconds:.0f}"]], "lrr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
