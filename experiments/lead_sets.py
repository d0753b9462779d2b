"""One network for every lead set, or one network per lead set? Both designs, cross-validated on the same records.

Usage: .venv/bin/python experiments/lead_sets.py [--out runs/exp-lead-sets] [--n 1000] [--folds 3]
       [--config demo] [--seed 0] [--equal-budget] [--lead-dropout P] [--smoke]

The 2021 challenge runs every model on five lead sets (``ecgnet.leads.LEAD_SETS_2021``).
Its winner trained one network per set; ecgnet can also train one network for all of them
(``lead_sets: "2021"``: each training window read through a randomly drawn set, the other
leads zeroed, a 12-value lead-presence vector beside age and sex). This script

1. writes ``n`` synthetic records with the 2021 classes (10 s, 500 Hz, as the demo's);
2. cross-validates the shared design once (``challenge: "2021"``, ``lead_sets: "2021"``,
   ``lead_networks: "one"``), with ``--equal-budget`` once more with five times the epochs
   (the five networks' budget), with ``--lead-dropout P`` once more with each present lead
   also zeroed with probability P (the ``augment_lead_dropout`` lever, on top of the drawn
   set), and the per-set design (``lead_networks: "per_set"``: one ensemble per lead set),
   all with the same folds, seed and preset (``ecgnet.training.crossval``: resumable, a
   rerun reuses every fold);
3. prints, per lead set, each design's pooled out-of-fold challenge score and AUROC, the
   per-fold difference of the challenge scores from the per-set design (from the one
   network for the lead-dropout design: the lever's own effect), mean ± standard error with
   the folds paired,
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
    """(the cv summary, the sum of its folds' own training seconds, those of every lead set's ensemble included) of
    ``config`` on ``data`` into ``out``; the runs share one record cache (``out``'s parent's ``cache``)."""
    summary = cross_validate(data, out, config, cache_root=out.parent / "cache")
    return summary, sum(json.loads(path.read_text())["seconds"] for path in out.glob(f"**/{FOLDS_DIR}/fold_*/{FOLD_RESULT}"))


def _cell(row: dict) -> str:
    """A lead set's pooled challenge score and AUROC, as one table cell."""
    return f"{row['pooled']['Challenge metric']:.3f} ({row['pooled']['AUROC']:.3f})"


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the designs' cross-validations and print the two tables; exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/exp-lead-sets"))
    parser.add_argument("--n", type=int, default=1000, help="synthetic records (default 1000)")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    parser.add_argument("--config", default="demo", help="preset or JSON file (default demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--equal-budget", action="store_true",
                        help="also the one network trained for the five networks' epochs (epochs x 5)")
    parser.add_argument("--lead-dropout", type=float, metavar="P",
                        help="also the one network with each present lead zeroed with probability P in training")
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
    sets = len(LEAD_SETS_2021)
    # The designs: one network for every set with the preset's budget and with the five per-set networks' budget
    # (epochs and milestones x 5: each set then meets as many windows as its own network does), and one network per set.
    longer = config.replace(epochs=config.epochs * sets, lr_milestones=tuple(m * sets for m in config.lr_milestones))
    one = config.replace(lead_sets="2021", lead_networks="one")
    designs = {"one network": _run(data, args.out / "shared", one)}
    if args.equal_budget:
        designs[f"one network, epochs x {sets}"] = _run(data, args.out / "shared_long", longer.replace(lead_sets="2021", lead_networks="one"))
    if args.lead_dropout is not None:
        designs[f"one network, lead dropout {args.lead_dropout:g}"] = _run(
            data, args.out / f"shared_dropout{args.lead_dropout:g}", one.replace(augment_lead_dropout=args.lead_dropout))
    per_set, per_set_seconds = _run(data, args.out / "per_set", config.replace(lead_sets="2021", lead_networks="per_set"))
    # Each design against the per-set design, the lead-dropout one against the same network without it.
    bases = {name: ("one network" if "dropout" in name else "one per set") for name in designs}
    summaries = {"one per set": per_set, **{name: summary for name, (summary, _) in designs.items()}}
    rows = []
    for k, leads in enumerate(LEAD_SETS_2021):
        row = [lead_set_name(leads), ",".join(leads), _cell(per_set["lead_sets"][k])]
        for name, (summary, _) in designs.items():
            shared, base = summary["lead_sets"][k], summaries[bases[name]]["lead_sets"][k]
            difference = np.array([shared["per_fold"][fold] - base["per_fold"][fold] for fold in base["per_fold"]])
            error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
            row += [_cell(shared), f"{difference.mean():+.3f} ± {error:.3f}"]
        rows.append(row)
    print(f"{per_set['records']} synthetic 2021 records, {config.n_folds} folds, preset {'smoke' if args.smoke else args.config} "
          f"({config.epochs} epochs); {machine(config.threads or None)}")
    header = ["lead set", "leads", "one per set: challenge (AUROC)"]
    for name in designs:
        header += [f"{name}: challenge (AUROC)", f"minus {bases[name]}, per fold"]
    print_table(header, rows, "ll" + "r" * (len(header) - 2))
    timing = [["one network per lead set", sets, f"{per_set_seconds:.0f}"]]
    timing += [[name, 1, f"{seconds:.0f}"] for name, (_, seconds) in designs.items()]
    print_table(["design", "networks per fold", "training time (folds' own seconds)"], timing, "lrr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
