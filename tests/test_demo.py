"""`python -m ecgnet demo`, shrunk: data -> cv ensemble -> driver on held-out records -> scorer -> report."""
from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ecgnet.fileio import current_umask

REPO = Path(__file__).resolve().parents[1]
TRAIN, TEST = 30, 6  # the fewest training records that fill the smoke preset's 5 x 5 splits, and a few to test on
SMOKE = {"preset": "smoke", "threads": 1, "epochs": 2, "lr_milestones": [1]}


def _arguments(out: Path, config: Path) -> list[str]:
    return ["demo", "--out", str(out), "--train", str(TRAIN), "--test", str(TEST), "--config", str(config)]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """``python -m ecgnet demo`` once, shrunk: (its folder, its configuration file, the finished process)."""
    tmp = tmp_path_factory.mktemp("demo")
    config = tmp / "tiny.json"
    config.write_text(json.dumps(SMOKE))
    out = tmp / "demo"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ECGNET_QUIET": "1"}
    done = subprocess.run([sys.executable, "-m", "ecgnet", *_arguments(out, config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out, config, done


def _held_out_line(stdout: str) -> str:
    return stdout.split("held-out synthetic test set:")[1].split("\n")[0]


@pytest.mark.slow
def test_demo_runs_end_to_end(first_run):
    out, _, first = first_run
    assert f"generating {TRAIN} training + {TEST} test synthetic records" in first.stdout
    assert "held-out synthetic test set: AUROC" in first.stdout and "report: " in first.stdout
    report = (out / "model" / "report.md").read_text()
    assert f"Held-out test set ({TEST} records" in report
    assert len(list((out / "test_outputs").glob("*.csv"))) == TEST
    assert not set(p.stem for p in (out / "data" / "test").glob("*.hea")) & set(p.stem for p in (out / "data" / "train").glob("*.hea"))
    normal = 0o666 & ~current_umask()  # what a plain write gives a new file here
    for written in ("report.md", "oof_predictions.csv", "manifest.json", "fold_0.pt"):
        assert stat.S_IMODE((out / "model" / written).stat().st_mode) == normal, written
    assert stat.S_IMODE(next((out / "test_outputs").glob("*.csv")).stat().st_mode) == normal


@pytest.mark.slow
def test_run_again_the_demo_says_what_it_reuses_and_scores_the_same(first_run, capsys, caplog, monkeypatch):
    """The second run in-process, its report not rendered again (the first run's test checks the report)."""
    from ecgnet import demo
    from ecgnet.cli import build_parser

    out, config, first = first_run
    monkeypatch.setattr(demo, "render_report", lambda results_dir: results_dir / "report.md")
    with caplog.at_level(logging.INFO, logger="ecgnet"):
        assert demo.run(build_parser("demo").parse_args(_arguments(out, config))) == 0
    second = capsys.readouterr().out
    assert f"reusing {TRAIN} training + {TEST} test synthetic records" in second
    for k in range(5):  # every fold model, said in the log
        assert any(m.startswith(f"fold {k}: ") and m.endswith("reused") for m in caplog.messages), (k, caplog.messages)
    assert _held_out_line(second) == _held_out_line(first.stdout)


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
