"""The recipe levers, each alone and in combination, by leave-one-source-out, and the rule that adopts them.

    .venv/bin/python experiments/ablation.py real      [--out runs/ablation] [--seeds 0 1] [--rows ...]
    .venv/bin/python experiments/ablation.py synthetic [--out runs/ablation] [--seeds 0 1] [--rows ...]
    .venv/bin/python experiments/ablation.py table     [--out runs/ablation] [--seeds 0 1 ...]

Each row is the base configuration (``BASE``: the demo's small network at the seed's
4,096-sample window, so 2 cores can afford several seeds) with some levers on (``ROWS``;
``--rows A+B`` joins rows A and B; ``combo`` is ``COMBO``); every (row, seed) is one
``python -m ecgnet loso DATA --folds 3`` run, which gives both the ordinary stratified
(in-source) out-of-fold score and the leave-one-source-out score (mean over held-out
source groups). The experiments:

- ``real``: ``../shared/data/ptbxl-dev`` + ``../shared/data/cinc2020-real`` (a record
  in both is taken once, from ptbxl-dev), sources held out with ``--min-source-records 30``;
- ``synthetic``: ``SYNTHETIC_PROFILES`` x ``SYNTHETIC_PER_PROFILE`` records from
  ``ecgnet.synth`` (seed 16), each profile a source.

Runs are kept under ``OUT/<experiment>/<row>/seed<k>`` (one cache per experiment, shared):
an interrupted sweep resumes where it stopped. ``table`` prints, per experiment, each row's
mean and standard error over seeds, then each row's paired difference from the adopted
recipe (same seed, same folds) and the adoption rule's verdict (``verdict``).
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
from ecgnet.config import ADOPTED_LEVERS  # noqa: E402

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
# The combination of every lever that beat the baseline in both experiments of the two-seed sweep (bench/RESULTS.md).
COMBO = ("bandpass", "pad_stride", "augment", "challenge_loss")
ADOPTED = "bandpass+pad_stride"  # the rows of config.ADOPTED_LEVERS, the recipe every row is compared with
FOLDS = 3
MARGIN_SE = 2  # the rule's margin, in standard errors of the paired difference (config.ADOPTED_LEVERS)


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


def collect(out: Path, experiment: str, seeds: list[int]) -> dict[str, dict[str, dict[int, float]]]:
    """row -> figure -> seed -> value, over the finished runs of ``seeds``."""
    rows: dict[str, dict[str, dict[int, float]]] = {}
    for run in sorted((out / experiment).glob("*/seed*")):
        seed = int(run.name.removeprefix("seed"))
        if seed in seeds and finished(run / "summary.json"):
            for name, value in figures(json.loads((run / "summary.json").read_text())).items():
                rows.setdefault(run.parent.name, {}).setdefault(name, {})[seed] = value
    return rows


def adopted_row() -> str:
    """``ADOPTED``, checked against ``config.ADOPTED_LEVERS`` (SystemExit when the presets moved on without it)."""
    if joined_levers(ADOPTED) != ADOPTED_LEVERS:
        sys.exit(f"ablation: ADOPTED ({ADOPTED}) is not config.ADOPTED_LEVERS ({ADOPTED_LEVERS}): update ADOPTED")
    return ADOPTED


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sd with n - 1, over sqrt n; NaN for one value)."""
    values = np.asarray(values, dtype=float)
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(np.mean(values)), se


def paired(rows: dict, row: str, against: str, figure: str) -> list[float]:
    """``row`` minus ``against`` for each seed both have finished (same seed, same folds)."""
    this, base = rows[row].get(figure, {}), rows[against].get(figure, {})
    return [this[s] - base[s] for s in sorted(set(this) & set(base))]


def verdict(rows: dict, row: str, against: str) -> tuple[bool, bool]:
    """(improves leave-one-source-out, keeps in-source) of ``row`` against ``against`` in one experiment.

    Improving: the mean paired difference of the LOSO means exceeds ``MARGIN_SE`` standard
    errors of that difference. Keeping: the in-source score's mean paired difference is not
    below minus ``MARGIN_SE`` standard errors of its own paired difference. A row replaces
    the adopted recipe when both hold in both experiments (``config.ADOPTED_LEVERS``).
    """
    gain, gain_se = mean_se(paired(rows, row, against, "LOSO mean"))
    change, change_se = mean_se(paired(rows, row, against, "in-source"))
    return bool(gain > MARGIN_SE * gain_se), bool(change >= -MARGIN_SE * change_se)


def table(out: Path, seeds: list[int]) -> str:
    """The Markdown tables of both experiments (mean ± SE over seeds), the paired differences and the rule's outcome."""
    against, lines, outcome = adopted_row(), [], {}
    for experiment in ("real", "synthetic"):
        rows = collect(out, experiment, seeds)
        if against not in rows:
            lines.append(f"\n{experiment}: no finished run of the adopted row {against}")
            continue
        names = list(rows[against])
        lines += [f"\n{experiment} (seeds {', '.join(map(str, seeds))}; mean ± SE over finished seeds; challenge scores unless named)\n",
                  "| row | seeds | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        for row, values in rows.items():
            cells = ["{:.3f} ± {:.3f}".format(*mean_se(list(values[k].values()))) if k in values else "" for k in names]
            lines.append(f"| {label(row)} | {len(values['LOSO mean'])} | " + " | ".join(cells) + " |")
        lines += [f"\npaired differences from the adopted recipe ({label(against)}), {experiment}\n",
                  "| row | seeds | LOSO mean diff ± SE | per seed | in-source diff ± SE | per seed | improves LOSO | keeps in-source |",
                  "|---|---:|---:|---|---:|---|---|---|"]
        for row in rows:
            loso, source = paired(rows, row, against, "LOSO mean"), paired(rows, row, against, "in-source")
            if row == against or len(loso) < 2:
                continue
            better, keeps = verdict(rows, row, against)
            outcome.setdefault(row, []).append(better and keeps)
            lines.append(f"| {label(row)} | {len(loso)} | " + "{:+.3f} ± {:.3f}".format(*mean_se(loso))
                         + f" | {' '.join(f'{d:+.3f}' for d in loso)} | " + "{:+.3f} ± {:.3f}".format(*mean_se(source))
                         + f" | {' '.join(f'{d:+.3f}' for d in source)} | {better} | {keeps} |")
    replacing = [row for row, passes in outcome.items() if len(passes) == 2 and all(passes)]
    lines.append(f"\nreplaces the adopted recipe by the rule (improves LOSO by more than {MARGIN_SE} SE of the paired "
                 f"difference and keeps in-source, in both experiments): {', '.join(map(label, replacing)) or 'none'}")
    return "\n".join(lines)


def label(row: str) -> str:
    """A row's name in the tables: ``combo`` for ``COMBO``'s rows joined, else its own."""
    return "combo" if row == "+".join(COMBO) else row


def joined_levers(row: str) -> dict:
    """The levers of a row of ``ROWS``, or of several joined by ``+``; SystemExit naming an unknown one."""
    row = "+".join(COMBO) if row == "combo" else row
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
            row = "+".join(COMBO) if row == "combo" else row
            run_row(args.experiment, out, row, joined_levers(row), seed, data)
    print(table(args.out, args.seeds))


if __name__ == "__main__":
    main()
