"""The recipe levers, each alone and the best combination, by leave-one-source-out (issues 16 and 17).

    .venv/bin/python experiments/ablation.py real      [--out runs/ablation] [--seeds 0 1] [--rows ...]
    .venv/bin/python experiments/ablation.py synthetic [--out runs/ablation] [--seeds 0 1] [--rows ...]
    .venv/bin/python experiments/ablation.py table     [--out runs/ablation]

Each row is the base configuration (``BASE``: the demo's small network at the seed's
4,096-sample window, so a budget of 2 cores can afford 2 experiments x 7 rows x 2 seeds)
with one lever on; every (row, seed) is one ``python -m ecgnet loso DATA
--folds 3`` run, which gives both the ordinary stratified (in-source) out-of-fold score
and the leave-one-source-out score (mean over held-out source groups). The experiments:

- ``real``: ``../shared/data/ptbxl-dev`` + ``../shared/data/cinc2020-real`` (a record
  in both is taken once, from ptbxl-dev), sources held out with ``--min-source-records 30``;
- ``synthetic``: ``SYNTHETIC_PROFILES`` x ``SYNTHETIC_PER_PROFILE`` records from
  ``ecgnet.synth`` (seed 16), each profile a source.

Runs are kept under ``OUT/<experiment>/<row>/seed<k>`` (one cache per experiment, shared):
an interrupted sweep resumes where it stopped. ``table`` prints, per experiment, each row's
mean and seed-to-seed sd and the rule's verdict (``verdict``); the ``combo`` row (every lever whose
row beat the baseline's leave-one-source-out mean in both experiments) needs the
single-lever rows of both experiments first; ``--rows A+B`` runs rows A and B together. A combination is adopted over its best single
lever only if it beats that lever by the same rule.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import SHARED_DATA  # noqa: E402

REAL_DIRS = (SHARED_DATA / "ptbxl-dev", SHARED_DATA / "cinc2020-real")
SYNTHETIC_PROFILES = ("cpsc", "georgia", "us400", "ptbxl-dev")
SYNTHETIC_PER_PROFILE = 90
MIN_SOURCE_RECORDS = {"real": 30, "synthetic": 50}
BASE = {"preset": "demo", "window": 4096, "overlap": 256, "epochs": 10, "lr_milestones": [8], "batch_size": 32,
        "inner_folds": 5, "threads": 0}
ROWS = {
    "baseline": {},
    "bandpass": {"bandpass_low_hz": 0.5, "bandpass_high_hz": 40.0},
    "standardise": {"lead_standardisation": "record"},
    "augment": {"augment_stretch": 0.05, "augment_amplitude": 0.1, "augment_wander_mv": 0.1, "augment_noise_mv": 0.02,
                "augment_lead_dropout": 0.1},
    "challenge_loss": {"challenge_loss_weight": 0.5},
    "pad_stride": {"pad_to": "stride"},
}
FOLDS = 3


def real_data(out: Path) -> Path:
    """A folder of links to the real records (each name once); SystemExit when ../shared is absent."""
    data = out / "data"
    if data.is_dir():
        return data
    missing = [str(d) for d in REAL_DIRS if not d.is_dir()]
    if missing:
        sys.exit(f"ablation real: needs {', '.join(missing)} (set ECGNET_SHARED)")
    data.mkdir(parents=True)
    for folder in REAL_DIRS:
        for header in sorted(folder.glob("*.hea")):  # the top level only: edge-cases/ are broken on purpose
            if not (data / header.name).exists():
                for path in (header, header.with_suffix(".mat")):
                    (data / path.name).symlink_to(path.resolve())
    return data


def synthetic_data(out: Path) -> Path:
    """The synthetic sources, written once."""
    from ecgnet.synth import generate_dataset

    data = out / "data"
    if not data.is_dir():
        generate_dataset(data, SYNTHETIC_PER_PROFILE * len(SYNTHETIC_PROFILES), seed=16, profiles=SYNTHETIC_PROFILES)
    return data


def run_row(experiment: str, out: Path, row: str, levers: dict, seed: int, data: Path) -> dict:
    """One ``loso`` run (skipped when its summary exists); its summary.json."""
    run = out / row / f"seed{seed}"
    summary = run / "summary.json"
    if not finished(summary):
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps({**BASE, **levers}, indent=1))
        if not (run / "cache").exists():  # every run of an experiment reads one cache (levers act after it)
            (out / "cache").mkdir(exist_ok=True)
            (run / "cache").symlink_to((out / "cache").resolve())
        command = [sys.executable, "-m", "ecgnet", "loso", str(data), "--config", str(run / "config.json"), "--out", str(run),
                   "--folds", str(FOLDS), "--seed", str(seed),
                   "--min-source-records", str(MIN_SOURCE_RECORDS[experiment])]
        print(f"[{experiment}] {row} seed {seed}: {' '.join(command[1:])}", flush=True)
        with open(run / "cv.log", "w") as log:
            subprocess.run(command, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return json.loads(summary.read_text())


def finished(summary: Path) -> bool:
    """Whether a run's summary holds the leave-one-source-out section (cv writes it after the ordinary folds)."""
    return summary.is_file() and "by_source" in json.loads(summary.read_text())


def figures(summary: dict) -> dict[str, float]:
    """The numbers a row is judged by: in-source OOF and leave-one-source-out challenge scores, AUROC."""
    by_source = summary["by_source"]
    return {"in-source": summary["pooled"]["Challenge metric"], "LOSO mean": by_source["mean"],
            "LOSO pooled": by_source["pooled"]["Challenge metric"], "LOSO AUROC": by_source["pooled"]["AUROC"],
            **{f"held out {g['group']}": g["Challenge metric"] for g in by_source["groups"]}}


def collect(out: Path, experiment: str, seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    """row -> figure -> one value per finished seed."""
    rows: dict[str, dict[str, list[float]]] = {}
    joined = sorted(p.name for p in (out / experiment).glob("*+*") if p.is_dir())
    for row in [*ROWS, "combo", *joined]:
        for seed in seeds:
            summary = out / experiment / row / f"seed{seed}" / "summary.json"
            if finished(summary):
                for name, value in figures(json.loads(summary.read_text())).items():
                    rows.setdefault(row, {}).setdefault(name, []).append(value)
    return rows


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def verdict(rows: dict[str, dict[str, list[float]]], row: str, against: str = "baseline") -> tuple[bool, bool]:
    """(improves leave-one-source-out, keeps in-source) of ``row`` against the row ``against`` in one experiment.

    The spread is the larger seed-to-seed sd of the two rows; improving means a mean gain
    larger than it, keeping means an in-source mean loss no larger than it (issue 16's rule).
    """
    base, this = rows[against], rows[row]
    spread = {k: max(_sd(base[k]), _sd(this[k])) for k in ("LOSO mean", "in-source")}
    gain = np.mean(this["LOSO mean"]) - np.mean(base["LOSO mean"])
    loss = np.mean(base["in-source"]) - np.mean(this["in-source"])
    return bool(gain > spread["LOSO mean"]), bool(loss <= spread["in-source"])


def table(out: Path, seeds: list[int]) -> str:
    """The Markdown tables of both experiments (mean ± seed sd) and each lever's verdict under the rule."""
    lines, outcome = [], {}
    for experiment in ("real", "synthetic"):
        rows = collect(out, experiment, seeds)
        if "baseline" not in rows:
            continue
        names = list(rows["baseline"])
        lines += [f"\n{experiment} ({len(seeds)} seeds; mean ± sd over seeds; challenge scores unless named)\n",
                  "| row | " + " | ".join(names) + " | improves LOSO | keeps in-source |",
                  "|---|" + "---:|" * len(names) + "---|---|"]
        for row, values in rows.items():
            cells = [f"{np.mean(values[k]):.3f} ± {_sd(values[k]):.3f}" if k in values else "" for k in names]
            better, keeps = verdict(rows, row) if row != "baseline" and len(values["LOSO mean"]) > 1 else ("", "")
            outcome.setdefault(row, []).append(better is True and keeps is True)
            lines.append(f"| {row} | " + " | ".join(cells) + f" | {better} | {keeps} |")
    adopted = [row for row, passes in outcome.items() if row in ROWS and len(passes) == 2 and all(passes)]
    lines.append(f"\nadopted by the rule (improves LOSO and keeps in-source in both experiments): {', '.join(adopted) or 'none'}")
    experiments = [collect(out, e, seeds) for e in ("real", "synthetic")]
    if all(len(rows.get("combo", {}).get("LOSO mean", [])) > 1 for rows in experiments):
        for single in adopted:
            judged = [verdict(rows, "combo", against=single) for rows in experiments]
            lines.append(f"combo against {single} (real, synthetic): improves LOSO {[j[0] for j in judged]}, "
                         f"keeps in-source {[j[1] for j in judged]}")
    return "\n".join(lines)


def combo_levers(out: Path, seeds: list[int]) -> dict:
    """The best combination to try: the levers of every single-lever row whose LOSO mean beat the baseline's in both
    experiments (those the rule adopts among them); {} when fewer than two did, as there is nothing to combine."""
    experiments = [collect(out, e, seeds) for e in ("real", "synthetic")]
    singles = [row for row in ROWS if row != "baseline" and all(row in rows for rows in experiments)]
    better = [row for row in singles
              if all(np.mean(rows[row]["LOSO mean"]) > np.mean(rows["baseline"]["LOSO mean"]) for rows in experiments)]
    return {key: value for row in better for key, value in ROWS[row].items()} if len(better) > 1 else {}


def joined_levers(row: str) -> dict:
    """The levers of a row of ``ROWS``, or of several joined by ``+``; SystemExit naming an unknown one."""
    unknown = [part for part in row.split("+") if part not in ROWS]
    if unknown:
        sys.exit(f"ablation: unknown row(s) {', '.join(unknown)} (rows: {', '.join(ROWS)}, combo)")
    return {key: value for part in row.split("+") for key, value in ROWS[part].items()}


def main() -> None:
    """Run the experiment's rows (resuming), then print the tables; or only print them (``table``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=("real", "synthetic", "table"))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "ablation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--rows", nargs="+", default=list(ROWS),
                        help=f"rows to run: {', '.join(ROWS)}, combo, or single rows joined by + (e.g. bandpass+pad_stride)")
    args = parser.parse_args()
    if args.experiment == "table":
        print(table(args.out, args.seeds))
        return
    out = args.out / args.experiment
    data = real_data(out) if args.experiment == "real" else synthetic_data(out)
    for seed in args.seeds:  # every row at one seed first: a stopped sweep still compares rows
        for row in args.rows:
            levers = combo_levers(args.out, args.seeds) if row == "combo" else joined_levers(row)
            if row == "combo" and not levers:
                print("combo: fewer than two levers beat the baseline in both experiments; nothing to combine")
                continue
            run_row(args.experiment, out, row, levers, seed, data)
    print(table(args.out, args.seeds))


if __name__ == "__main__":
    main()
