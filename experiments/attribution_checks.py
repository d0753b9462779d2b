"""Are the attributions of `explain` more than decoration? Three checks on a trained model directory.

Usage: .venv/bin/python experiments/attribution_checks.py MODEL_DIR [--records 12] [--seed 1000] [--threads 1]
       .venv/bin/python experiments/attribution_checks.py --smoke

1. Lead mixing in the stem: for the first convolution over the 12 leads (found by type),
   the share of each output channel's weight energy that comes from its strongest lead
   (1/12 = 0.083: all leads mixed evenly; 1.0: a channel that belongs to one lead). Low
   shares are why `lead-importance` occludes leads instead of reading the SE gates.
2. Model randomisation (Adebayo et al., NeurIPS 2018): Spearman rank correlation between
   the |Integrated Gradients| maps of the trained fold models and of the same
   architecture re-initialised at random; beside it, two trained folds against each other.
3. Evidence location: on synthetic records forced to one class, the fraction of the
   attribution mass (summed over leads) inside the generator's own evidence region
   (``synth.record.record_fiducials``): the QRS complexes for LBBB and CRBBB, the PR
   interval (P onset to QRS onset) and the P-R segment (P end to QRS onset) for IAVB,
   against chance (the region's share of the record's time), for the trained and the
   re-initialised models.

``--smoke`` (the suite's check): one record per class through a 2-fold model directory of
random ``smoke``-preset networks made here (its figures mean nothing).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, random_model_dir  # noqa: E402
from ecgnet.analysis.explain import attribute_record, integrated_gradients, stitch  # noqa: E402
from ecgnet.challenge.classes import ABBREVIATIONS  # noqa: E402
from ecgnet.config import PRESETS  # noqa: E402
from ecgnet.inference.ensemble import Ensemble  # noqa: E402
from ecgnet.network.model import SEResNet  # noqa: E402
from ecgnet.signal import (  # noqa: E402
    TARGET_FS,
    encode_demographics,  # noqa: E402
    inference_windows,
    resample,
    resampled_length,
)
from ecgnet.synth.record import generate_record, record_fiducials  # noqa: E402

CHECKS = (("LBBB", "QRS complexes"), ("CRBBB", "QRS complexes"), ("IAVB", "PR interval"), ("IAVB", "P-R segment"))


def stem_lead_share(model: torch.nn.Module) -> np.ndarray:
    """Per output channel of the first 12-lead convolution: the strongest lead's share of its weight energy."""
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv1d) and m.in_channels == 12)
    energy = (conv.weight.detach().numpy() ** 2).sum(axis=2)  # (C, 12)
    return energy.max(axis=1) / energy.sum(axis=1)


def region_mask(abbr: str, region: str, index: int, seed: int, samples: int, fs: float) -> np.ndarray:
    """Samples (at ``fs``) of synthetic record ``index`` inside the generator's evidence ``region`` for ``abbr``."""
    where = record_fiducials(index, seed, codes=[abbr], fs=500, duration=10)
    t = np.arange(samples) / fs
    mask = np.zeros(samples, dtype=bool)
    if region == "QRS complexes":
        spans = zip(where.qrs_on, where.qrs_end)
    else:
        start = where.p_on if region == "PR interval" else where.p_end
        spans = ((a, b) for a, b in zip(start, where.qrs_on) if not np.isnan(a))
    for a, b in spans:
        mask |= (t >= a) & (t < b)
    return mask


def record(abbr: str, index: int, seed: int, fs_model: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(signal resampled to ``fs_model``, demographics, length) of a 10-s synthetic record forced to carry ``abbr``."""
    signal, fs, age, sex, _ = generate_record(index, seed, codes=[abbr], fs=500, duration=10)
    resampled = resample(signal, fs, fs_model)
    return resampled, encode_demographics(age, sex), resampled_length(signal.shape[1], fs, fs_model)


def main() -> None:
    """Parse the arguments and run the three checks on MODEL_DIR (or, with ``--smoke``, on random networks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, nargs="?", help="a trained model directory (not with --smoke)")
    parser.add_argument("--records", type=int, default=12, help="synthetic records per class")
    parser.add_argument("--seed", type=int, default=1000, help="dataset seed of the synthetic records")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small models on a shared machine)")
    parser.add_argument("--smoke", action="store_true", help="one record per class, random smoke networks (the suite's check)")
    args = parser.parse_args()
    if (args.model_dir is None) != args.smoke:
        parser.error("give MODEL_DIR, or --smoke alone")
    began = time.time()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            args.model_dir, args.records = random_model_dir(Path(tmp) / "model", PRESETS["smoke"], folds=2), 1
        run_checks(args.model_dir, args.records, args.seed)
    print(f"\n{time.time() - began:.0f} s")


def run_checks(model_dir: Path, records: int, seed: int) -> None:
    """Print the three checks (module docstring) for the ensemble in ``model_dir`` on ``records`` records per class."""
    ensemble = Ensemble.load(model_dir, device="cpu")
    config = ensemble.config
    torch.manual_seed(12345)  # not a seed training used
    randomised = [SEResNet(config.network).eval() for _ in ensemble.models]
    shares = np.concatenate([stem_lead_share(m) for m in ensemble.models])
    print(f"model: {model_dir} ({len(ensemble.models)} folds, width {config.network.width}, window {config.window})")
    print(f"\n1. stem lead mixing: strongest lead's share of a channel's weight energy, {len(shares)} channels: "
          f"median {np.median(shares):.3f}, 90th percentile {np.percentile(shares, 90):.3f} "
          f"(1/12 = 0.083 even mixing, 1.0 one lead)\n")
    rows, rank_random, rank_folds = [], [], []
    for abbr in sorted({a for a, _ in CHECKS}):
        for i in range(records):
            row, ranks = record_checks(ensemble, randomised, abbr, i, seed)
            rows += row
            rank_random.append(ranks[0])
            rank_folds.append(ranks[1])
    print(f"2. model randomisation: Spearman rank correlation of IG maps (12 leads x time), mean ± sd over {len(rank_random)} records:\n")
    print_table(("pair", "absolute IG", "signed IG"),
                [(name, *(f"{v[:, k].mean():.3f} ± {v[:, k].std():.3f}" for k in (0, 1)))
                 for name, v in (("trained fold 0 vs re-initialised", np.array(rank_random)),
                                 ("trained fold 0 vs trained fold 1", np.array(rank_folds)))])
    print("\n3. evidence location (share of |IG| mass in the region; chance = the region's share of time):\n")
    table = []
    for abbr, region in CHECKS:
        got = np.array([r[2:] for r in rows if r[0] == abbr and r[1] == region])
        chance, trained, random = got.mean(axis=0)
        table.append((abbr, region, len(got), f"{chance:.3f}", f"{trained:.3f}", f"{trained / chance:.2f}",
                      f"{int((got[:, 1] > got[:, 0]).sum())}/{len(got)}", f"{random:.3f}"))
    print_table(("class", "region", "records", "chance", "trained", "trained / chance", "records above chance", "re-initialised"),
                table, align="llrrrrrr")


def record_checks(ensemble: Ensemble, randomised: list[SEResNet], abbr: str, i: int, seed: int) -> tuple[list[tuple], tuple]:
    """One synthetic ``abbr`` record: its evidence-location rows (class, region, chance, trained, re-initialised share)
    and the rank correlations (fold 0 vs re-initialised, fold 0 vs fold 1; absolute and signed maps)."""
    config, c = ensemble.config, ABBREVIATIONS.index(abbr)
    signal, demographics, samples = record(abbr, i, seed, TARGET_FS)
    windows = inference_windows(signal, config.window, config.overlap)
    trained = attribute_record(ensemble.models, windows, demographics, samples, config.overlap, c).sum(axis=0)
    random = attribute_record(randomised, windows, demographics, samples, config.overlap, c).sum(axis=0)
    fold_0, fold_1, random_0 = (stitch(integrated_gradients(m, windows, demographics, c), samples, config.overlap).ravel()
                                for m in (ensemble.models[0], ensemble.models[1], randomised[0]))
    ranks = ([spearmanr(f(fold_0), f(random_0)).statistic for f in (np.abs, np.asarray)],
             [spearmanr(f(fold_0), f(fold_1)).statistic for f in (np.abs, np.asarray)])
    rows = []
    for check_abbr, region in CHECKS:
        if check_abbr == abbr:
            mask = region_mask(abbr, region, i, seed, samples, TARGET_FS)
            rows.append((abbr, region, mask.mean(), trained[mask].sum() / trained.sum(), random[mask].sum() / random.sum()))
    return rows, ranks


if __name__ == "__main__":
    main()
