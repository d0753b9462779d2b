"""The organisers' unchanged 2021 scripts (python-classifier-2021) run ecgnet: train, then test every lead set, then score.

From a temporary copy of the project (``team_code.py`` beside their ``train_model.py``,
``test_model.py``, ``helper_code.py`` and ``extract_leads_wfdb.py``; the package from the
repository): their ``train_model.py`` trains once with the smoke preset (``$ECGNET_CONFIG``),
their ``extract_leads_wfdb.py`` makes a test folder of each of the five lead sets, their
``test_model.py`` classifies each, and the official 2021 ``evaluate_model.py`` scores each.
Skipped, with the reason, where the shared folder of the organisers' scripts is absent.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

from ecgnet.challenge.classes import class_set
from ecgnet.leads import LEAD_SETS_2021, lead_set_name
from ecgnet.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ("train_model.py", "test_model.py", "helper_code.py", "extract_leads_wfdb.py")


def _run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_organisers_2021_scripts_train_test_every_lead_set_and_score(tmp_path):
    harness = shared_path("official-harness", "2021")
    project = tmp_path / "project"
    project.mkdir()
    for name in SCRIPTS:
        shutil.copyfile(harness / name, project / name)
    shutil.copyfile(REPO / "team_code.py", project / "team_code.py")
    config = tmp_path / "smoke.json"  # the smoke preset, as small as training allows: 2 folds, 1 epoch
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "epochs": 1, "lr_milestones": [1], "n_folds": 2,
                                  "inner_folds": 2}))
    env = {**os.environ, "ECGNET_CONFIG": str(config), "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO)}
    train, test = tmp_path / "train", tmp_path / "test"
    generate_dataset(train, 12, seed=5, workers=1, fs_choices=[500], duration_range=(10, 10), challenge="2021")
    generate_dataset(test, 3, seed=5, workers=1, fs_choices=[500], duration_range=(10, 10), first=12, challenge="2021")

    trained = _run(["train_model.py", train, tmp_path / "model"], project, env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    config = json.loads((tmp_path / "model" / "manifest.json").read_text())["config"]
    assert (config["challenge"], config["lead_sets"], config["lead_networks"]) == ("2021", "2021", "one")
    assert config["epochs"] == len(LEAD_SETS_2021)  # one network, given the epochs of one per lead set

    codes = list(class_set("2021").codes)
    for leads in LEAD_SETS_2021:
        name = lead_set_name(leads)
        folder, outputs = tmp_path / f"leads_{name}", tmp_path / f"outputs_{name}"
        extracted = _run(["extract_leads_wfdb.py", "-i", test, "-o", folder, "-l", *leads], project, env)
        assert extracted.returncode == 0, extracted.stderr[-3000:]
        tested = _run(["test_model.py", tmp_path / "model", folder, outputs], project, env)
        assert tested.returncode == 0 and "failed" not in tested.stdout, (name, tested.stdout[-2000:], tested.stderr[-3000:])
        for header in sorted(folder.glob("*.hea")):
            lines = (outputs / f"{header.stem}.csv").read_text().splitlines()
            assert lines[0] == f"#{header.stem}" and lines[1].split(",") == codes, (name, lines[:2])
            assert set(lines[2].split(",")) <= {"0", "1"} and "1" in lines[2].split(",")
            assert all(0.0 <= float(p) <= 1.0 for p in lines[3].split(","))
        scored = _run([harness / "evaluation" / "evaluate_model.py", folder, outputs, tmp_path / f"scores_{name}.csv"],
                      harness / "evaluation", env)
        assert scored.returncode == 0, (name, scored.stderr[-3000:])
        assert (tmp_path / f"scores_{name}.csv").read_text().startswith("AUROC,AUPRC,Accuracy,F-measure,Challenge metric")
