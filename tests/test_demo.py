"""`python -m ecgnet demo`, shrunk: data -> cv ensemble -> driver on held-out records -> scorer -> report."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ecgnet.fileio import current_umask

REPO = Path(__file__).resolve().parents[1]


def _demo(out: Path, config: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ecgnet", "demo", "--out", str(out), "--train", "50", "--test", "12", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGNET_QUIET": "1"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_says_what_it_reuses(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "epochs": 2, "lr_milestones": [1]}))
    out = tmp_path / "demo"
    first = _demo(out, config)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "generating 50 training + 12 test synthetic records" in first.stdout
    assert "held-out synthetic test set: AUROC" in first.stdout and "report: " in first.stdout
    report = (out / "model" / "report.md").read_text()
    assert "Held-out test set (12 records" in report
    assert len(list((out / "test_outputs").glob("*.csv"))) == 12
    assert not set(p.stem for p in (out / "data" / "test").glob("*.hea")) & set(p.stem for p in (out / "data" / "train").glob("*.hea"))
    normal = 0o666 & ~current_umask()  # what a plain write gives a new file here
    for written in ("report.md", "oof_predictions.csv", "manifest.json", "fold_0.pt"):
        assert stat.S_IMODE((out / "model" / written).stat().st_mode) == normal, written
    assert stat.S_IMODE(next((out / "test_outputs").glob("*.csv")).stat().st_mode) == normal

    second = _demo(out, config)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "reusing 50 training + 12 test synthetic records" in second.stdout
    assert "reused" in second.stderr  # the finished fold models, said in the log
    assert second.stdout.split("held-out synthetic test set:")[1].split("\n")[0] == first.stdout.split("held-out synthetic test set:")[1].split("\n")[0]


def test_the_demo_data_log_says_where_each_record_went(tmp_path, caplog):
    from ecgnet.demo import _ensure_data
    from ecgnet.synth import generate_dataset

    with caplog.at_level("INFO", logger="ecgnet.synth"):
        train_dir, test_dir = _ensure_data(tmp_path / "demo", 6, 3, seed=0)
    written = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote ")]
    assert written == [f"wrote 6 synthetic records to {train_dir}", f"wrote 3 synthetic records to {test_dir}"]
    # The same records, byte for byte, as one 9-record set split by index (the demo's figures stay as they were).
    whole = generate_dataset(tmp_path / "whole", 9, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    for header, folder in zip(whole, [train_dir] * 6 + [test_dir] * 3):
        for path in (header, header.with_suffix(".mat")):
            assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    assert len(list(train_dir.iterdir())) == 12 and len(list(test_dir.iterdir())) == 6
