"""`python -m ecgnet lead-importance`: lead occlusion per class, on a cv results directory."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_dirs import random_model_dir

from ecgnet.analysis.leadimportance import LEAD_IMPORTANCE_FILE, occlusion_drops, read_lead_importance, report_section
from ecgnet.analysis.plot import LEADS
from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES
from ecgnet.cli import main
from ecgnet.config import PRESETS
from ecgnet.fileio import OutOfFold, write_oof
from ecgnet.synth import generate_record, write_record

CONFIG = PRESETS["smoke"]
V1 = LEADS.index("V1")


class OnlyV1(torch.nn.Module):
    """Every logit is 10 x the mean of lead V1: only V1 can matter."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, signal, demographics):
        return (self.scale * signal[:, V1].mean(dim=1, keepdim=True)).repeat(1, len(CLASSES))


def test_occlusion_finds_the_one_lead_a_model_uses():
    windows = np.full((3, 12, 256), 0.2, dtype=np.float32)
    drops = occlusion_drops(OnlyV1(), windows, np.zeros(5), batch=2)
    assert drops.shape == (12, len(CLASSES))
    np.testing.assert_allclose(drops[V1], 1 / (1 + np.exp(-2.0)) - 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.delete(drops, V1, axis=0), 0.0, atol=1e-7)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """A cv-shaped results directory: 2 random fold models, 6 synthetic records, their oof file and summary."""
    out, data = tmp_path_factory.mktemp("cv"), tmp_path_factory.mktemp("data")
    random_model_dir(out, folds=2, config=CONFIG)
    names, labels = [], []
    for i, codes in enumerate([["LBBB"], ["AF"], ["LBBB"], ["NSR"], ["AF"], ["NSR"]]):
        signal, fs, age, sex, dx = generate_record(i, 0, codes=codes, fs=500, duration=4)
        source = data / ("CPSC" if i % 2 else "Georgia")  # the release's layout: one sub-folder per source
        source.mkdir(exist_ok=True)
        names.append(write_record(source, f"SYN{i:05d}", signal, fs, age, sex, dx).stem)
        labels.append([code in dx for code in CLASSES])
    labels = np.array(labels)
    write_oof(out, OutOfFold(names, ["SYN"] * 6, np.arange(6) % 2, labels, np.full(labels.shape, 0.5), labels))
    (out / "summary.json").write_text(json.dumps({"data_dir": str(data)}))
    return out


def test_command_writes_the_24_by_12_table_and_heat_map(results_dir):
    assert main(["--quiet", "lead-importance", str(results_dir)]) == 0
    importance, count, _ = read_lead_importance(results_dir)
    assert importance.shape == (24, 12)
    assert count[ABBREVIATIONS.index("LBBB")] == 2 and count[ABBREVIATIONS.index("AF")] == 2
    assert np.isfinite(importance[ABBREVIATIONS.index("LBBB")]).all()
    assert np.isnan(importance[ABBREVIATIONS.index("PVC")]).all()  # no record labelled PVC: nothing to average
    assert (results_dir / "lead_importance.png").stat().st_size > 0
    figures = results_dir / "figures"
    figures.mkdir(exist_ok=True)
    lines = report_section(results_dir, figures)
    assert lines[0] == "## Lead importance" and (figures / "lead_importance.png").is_file()


def test_not_a_cv_result_and_missing_records_are_clear_errors(results_dir, tmp_path, caplog):
    assert main(["--quiet", "lead-importance", str(tmp_path)]) == 2
    assert "not a cv result" in caplog.text
    assert main(["--quiet", "lead-importance", str(results_dir), "--data", str(tmp_path)]) == 2
    assert "no records here" in caplog.text
    signal, fs, age, sex, dx = generate_record(9, 0, codes=["AF"], fs=500, duration=4)
    write_record(tmp_path / "other", "OTHER1", signal, fs, age, sex, dx)
    assert main(["--quiet", "lead-importance", str(results_dir), "--data", str(tmp_path / "other")]) == 2
    assert "record SYN00000" in caplog.text and "--data" in caplog.text


def test_report_section_says_how_to_compute_it_when_absent(tmp_path):
    lines = report_section(tmp_path, tmp_path)
    assert not (tmp_path / LEAD_IMPORTANCE_FILE).exists()
    assert any("python -m ecgnet lead-importance" in line for line in lines)
