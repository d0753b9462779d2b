"""Are the attributions of `explain` more than decoration? Three checks on a trained model directory.

Usage: .venv/bin/python experiments/attribution_checks.py MODEL_DIR [--records 12] [--seed 1000]

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
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecgnet.analysis.explain import attribute_record, integrated_gradients, stitch  # noqa: E402
from ecgnet.challenge.classes import ABBREVIATIONS  # noqa: E402
from ecgnet.inference.ensemble import Ensemble  # noqa: E402
from ecgnet.network.model import SEResNet, encode_demographics  # noqa: E402
from ecgnet.signal import TARGET_FS, inference_windows, resample, resampled_length  # noqa: E402
from ecgnet.synth.record import generate_record, record_fiducials  # noqa: E402

CHECKS = (("LBBB", "QRS complexes"), ("CRBBB", "QRS complexes"), ("IAVB", "PR interval"), ("IAVB", "P-R segment"))


def stem_lead_share(model: torch.nn.Module) -> np.ndarray:
    """Per output channel of the first 12-lead convolution: the strongest lead's share of its weight energy."""
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv1d) and m.in_channels == 12)
    energy = (conv.weight.detach().numpy() ** 2).sum(axis=2)  # (C, 12)
    return energy.max(axis=1) / energy.sum(axis=1)


def region_mask(abbr: str, region: str, index: int, seed: int, samples: int, fs: float) -> np.ndarray:
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
    signal, fs, age, sex, _ = generate_record(index, seed, codes=[abbr], fs=500, duration=10)
    resampled = resample(signal, fs, fs_model)
    return resampled, encode_demographics(age, sex), resampled_length(signal.shape[1], fs, fs_model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--records", type=int, default=12, help="synthetic records per class")
    parser.add_argument("--seed", type=int, default=1000, help="dataset seed of the synthetic records")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small models on a shared machine)")
    args = parser.parse_args()
    began = time.time()
    torch.set_num_threads(args.threads)
    ensemble = Ensemble.load(args.model_dir, device="cpu")
    config = ensemble.config
    torch.manual_seed(12345)  # not a seed training used
    randomised = [SEResNet(config.network).eval() for _ in ensemble.models]

    shares = np.concatenate([stem_lead_share(m) for m in ensemble.models])
    print(f"model: {args.model_dir} ({len(ensemble.models)} folds, width {config.network.width}, window {config.window})")
    print(f"\n1. stem lead mixing: strongest lead's share of a channel's weight energy, {len(shares)} channels: "
          f"median {np.median(shares):.3f}, 90th percentile {np.percentile(shares, 90):.3f} "
          f"(1/12 = 0.083 even mixing, 1.0 one lead)\n")

    rows, rank_random, rank_folds = [], [], []
    for abbr in sorted({a for a, _ in CHECKS}):
        c = ABBREVIATIONS.index(abbr)
        for i in range(args.records):
            signal, demographics, samples = record(abbr, i, args.seed, TARGET_FS)
            windows = inference_windows(signal, config.window, config.overlap)
            trained = attribute_record(ensemble.models, windows, demographics, samples, config.overlap, c).sum(axis=0)
            random = attribute_record(randomised, windows, demographics, samples, config.overlap, c).sum(axis=0)
            fold_0, fold_1, random_0 = (stitch(integrated_gradients(m, windows, demographics, c), samples, config.overlap).ravel()
                                        for m in (ensemble.models[0], ensemble.models[1], randomised[0]))
            rank_random.append([spearmanr(f(fold_0), f(random_0)).statistic for f in (np.abs, np.asarray)])
            rank_folds.append([spearmanr(f(fold_0), f(fold_1)).statistic for f in (np.abs, np.asarray)])
            for check_abbr, region in CHECKS:
                if check_abbr == abbr:
                    mask = region_mask(abbr, region, i, args.seed, samples, TARGET_FS)
                    rows.append((abbr, region, mask.mean(), trained[mask].sum() / trained.sum(), random[mask].sum() / random.sum()))
    print(f"2. model randomisation: Spearman rank correlation of IG maps (12 leads x time), mean ± sd over {len(rank_random)} records:\n")
    print("| pair | absolute IG | signed IG |\n|---|---:|---:|")
    for name, values in (("trained fold 0 vs re-initialised", rank_random), ("trained fold 0 vs trained fold 1", rank_folds)):
        v = np.array(values)
        print(f"| {name} | {v[:, 0].mean():.3f} ± {v[:, 0].std():.3f} | {v[:, 1].mean():.3f} ± {v[:, 1].std():.3f} |")
    print()
    print("3. evidence location (share of |IG| mass in the region; chance = the region's share of time):\n")
    print("| class | region | records | chance | trained | trained / chance | records above chance | re-initialised |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for abbr, region in CHECKS:
        got = np.array([r[2:] for r in rows if r[0] == abbr and r[1] == region])
        chance, trained, random = got.mean(axis=0)
        above = int((got[:, 1] > got[:, 0]).sum())
        print(f"| {abbr} | {region} | {len(got)} | {chance:.3f} | {trained:.3f} | {trained / chance:.2f} | {above}/{len(got)} | {random:.3f} |")
    print(f"\n{time.time() - began:.0f} s")


if __name__ == "__main__":
    main()
