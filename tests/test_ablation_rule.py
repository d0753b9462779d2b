"""The rule that adopts a recipe (experiments/ablation.py): paired differences over seeds, judged in both experiments."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import ablation  # noqa: E402

ADOPTED = ablation.ADOPTED
COMBO = "+".join(ablation.COMBO)


def _write_run(out: Path, experiment: str, row: str, seed: int, in_source: float, loso: float) -> None:
    run = out / experiment / row / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {"pooled": {"Challenge metric": in_source},
               "by_source": {"mean": loso, "pooled": {"Challenge metric": loso, "AUROC": 0.5},
                             "groups": [{"group": "G", "Challenge metric": loso}]}}
    (run / "summary.json").write_text(json.dumps(summary))


def _rows(adopted_loso, row_loso, adopted_in=None, row_in=None) -> dict:
    seeds = range(len(adopted_loso))
    adopted_in = adopted_in or [0.4] * len(seeds)
    row_in = row_in or [0.4] * len(seeds)
    return {ADOPTED: {"LOSO mean": dict(zip(seeds, adopted_loso)), "in-source": dict(zip(seeds, adopted_in))},
            COMBO: {"LOSO mean": dict(zip(seeds, row_loso)), "in-source": dict(zip(seeds, row_in))}}


def test_a_steady_paired_gain_counts_even_inside_the_seed_spread():
    # The seeds spread by 0.2, the row gains 0.02 on every one of them: pairing sees it, an unpaired comparison would not.
    adopted = [0.1, 0.3, 0.2, 0.15, 0.25, 0.05]
    row = [a + 0.02 + 0.002 * (i % 2) for i, a in enumerate(adopted)]
    assert ablation.verdict(_rows(adopted, row), COMBO, ADOPTED) == (True, True)


def test_a_gain_that_changes_sign_between_seeds_does_not():
    adopted = [0.1, 0.3, 0.2, 0.15, 0.25, 0.05]
    row = [a + d for a, d in zip(adopted, [0.08, -0.06, 0.07, -0.05, 0.06, -0.02])]
    assert ablation.verdict(_rows(adopted, row), COMBO, ADOPTED)[0] is False


def test_an_in_source_loss_beyond_the_margin_is_not_kept():
    adopted = [0.1, 0.3, 0.2, 0.15]
    row = [a + 0.05 for a in adopted]
    assert ablation.verdict(_rows(adopted, row, row_in=[0.35, 0.36, 0.34, 0.35]), COMBO, ADOPTED) == (True, False)


@pytest.mark.parametrize("synthetic_gain, replaces", [(0.03, True), (-0.01, False)])
def test_the_table_replaces_the_recipe_only_when_both_experiments_agree(tmp_path, synthetic_gain, replaces):
    for seed, base in enumerate([0.1, 0.3, 0.2, 0.15]):
        for experiment, gain in (("real", 0.03), ("synthetic", synthetic_gain)):
            _write_run(tmp_path, experiment, ADOPTED, seed, 0.4, base)
            _write_run(tmp_path, experiment, COMBO, seed, 0.4, base + gain + 0.001 * seed)
    text = ablation.table(tmp_path, [0, 1, 2, 3])
    verdict_line = text.splitlines()[-1]
    assert verdict_line.endswith(": combo") is replaces
    assert "| combo | 4 | +0.031 ± 0.001 | +0.030 +0.031 +0.032 +0.033 |" in text  # the real experiment's paired row


def test_the_adopted_row_is_the_presets_recipe():
    from ecgnet.config import ADOPTED_LEVERS

    assert ablation.joined_levers(ablation.adopted_row()) == ADOPTED_LEVERS
