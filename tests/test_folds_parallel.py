"""Folds spread over processes: chosen folds only, then `assemble` gives the one-process model directory."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from helpers import write_records

from ecgnet.cli import main
from ecgnet.config import PRESETS
from ecgnet.errors import ConfigError, ModelDirError
from ecgnet.fileio import CACHE_ENV_VAR, FOLD_RESULT, MANIFEST, WORK_DIR, fold_dir, plan_path
from ecgnet.modeldir import FOLDS_ENV_VAR, assemble, load_manifest, parse_folds, weights_name
from ecgnet.training.crossval import cross_validate
from ecgnet.training.train import train_ensemble
from team_code import train_12ECG_classifier

SMOKE = PRESETS["smoke"].replace(threads=1, workers=1, epochs=2, lr_milestones=(1,), seed=4)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_records(tmp_path_factory.mktemp("records"), 30, seed=2)


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("one") / "model"
    train_ensemble(data, model, SMOKE)
    return model


@pytest.fixture(scope="module")
def two_runs(data, tmp_path_factory) -> Path:
    """Folds 0 and 1 by one run (through train_model.py's environment variable), 2, 3 and 4 by another."""
    model = tmp_path_factory.mktemp("two") / "model"
    config = tmp_path_factory.mktemp("config") / "smoke.json"
    config.write_text(json.dumps({"preset": "smoke", **{k: SMOKE.to_dict()[k] for k in ("threads", "workers", "epochs", "lr_milestones", "seed")}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECGNET_CONFIG", str(config))
        patch.setenv(FOLDS_ENV_VAR, "1,0")
        train_12ECG_classifier(str(data), str(model))
    assert not (model / MANIFEST).exists(), "a manifest written with 2 of 5 folds trained"
    assert [k for k in range(5) if (model / weights_name(k)).exists()] == [0, 1]
    with pytest.raises(ModelDirError, match="fold 2 is not trained.*fold 3 is not trained.*fold 4 is not trained"):
        assemble(model)
    assert train_ensemble(data, model, SMOKE, only_folds=(2, 3, 4)) is not None  # the run that finishes the folds assembles
    return model


def _comparable(manifest: dict) -> dict:
    """A manifest without what differs between equal trainings: the clock and the package versions' host."""
    data = {k: v for k, v in manifest["data"].items() if k != "training_seconds"}
    return {**manifest, "data": data}


@pytest.mark.slow
def test_folds_trained_by_two_runs_then_assembled_equal_one_run(one_process, two_runs, capsys):
    (two_runs / MANIFEST).unlink()
    assert main(["assemble", str(two_runs)]) == 0
    assert "5 folds assembled" in capsys.readouterr().out
    single, assembled = load_manifest(one_process), load_manifest(two_runs)
    assert [f["sha256"] for f in assembled["folds"]] == [f["sha256"] for f in single["folds"]]
    assert [f["thresholds"] for f in assembled["folds"]] == [f["thresholds"] for f in single["folds"]]
    assert _comparable(assembled) == _comparable(single)
    assert assembled["data"]["device"] == "cpu" and assembled["data"]["threads"] == 1
    assert not (two_runs / WORK_DIR).exists(), "the record cache outlived the manifest"


def _copy(model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    return copy


def _edit_result(model: Path, fold: int, **changes) -> None:
    path = fold_dir(model, fold) / FOLD_RESULT
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.slow
def test_assemble_names_a_missing_fold_and_folds_from_other_data_or_config(one_process, tmp_path):
    model = _copy(one_process, tmp_path)
    (model / weights_name(3)).unlink()
    _edit_result(model, 1, fingerprint="other data")
    config = json.loads((fold_dir(model, 4) / FOLD_RESULT).read_text())["config"]
    _edit_result(model, 4, config={**config, "width": config["width"] * 2})
    with pytest.raises(ModelDirError) as error:
        assemble(model)
    message = str(error.value)
    assert "fold 1 was trained on other data" in message and "fold 4 was trained with another configuration" in message
    assert f"{model / weights_name(3)} is missing" in message and "fold 0" not in message and "fold 2" not in message
    assert "ECGNET_FOLDS=1,3,4 python train_model.py" in message


def test_assemble_without_any_trained_fold_says_so(tmp_path):
    with pytest.raises(ModelDirError, match=f"{plan_path(tmp_path)}: missing"):
        assemble(tmp_path)
    assert main(["assemble", str(tmp_path)]) == 2


@pytest.mark.slow
def test_retraining_some_folds_removes_a_manifest_that_would_claim_them(data, one_process, tmp_path):
    model = _copy(one_process, tmp_path)
    _edit_result(model, 0, fingerprint="other data")  # fold 0 must be trained again ...
    (model / weights_name(3)).unlink()  # ... and fold 3 is left to another run
    assert train_ensemble(data, model, SMOKE, only_folds=(0,)) is None
    assert not (model / MANIFEST).exists()
    assert json.loads((fold_dir(model, 0) / FOLD_RESULT).read_text())["fingerprint"] != "other data"
    assert (model / WORK_DIR).exists(), "the cache other runs may still read was removed"


def test_fold_lists_are_parsed_and_bad_ones_named():
    assert parse_folds("2, 0,2", 5, "--only-folds") == (0, 2)
    for bad in ("", "5", "-1", "0;2", "a"):
        with pytest.raises(ConfigError, match=f"--only-folds='{bad}'.*from 0 to 4"):
            parse_folds(bad, 5, "--only-folds")


def test_a_bad_fold_variable_stops_train_model_before_reading_data(tmp_path, monkeypatch):
    monkeypatch.setenv(FOLDS_ENV_VAR, "7")
    with pytest.raises(ConfigError, match=f"{FOLDS_ENV_VAR}='7'"):
        train_12ECG_classifier(str(tmp_path / "absent"), str(tmp_path / "model"))


@pytest.mark.slow
def test_cv_with_only_some_folds_trains_them_and_scores_once_all_are(data, one_process, tmp_path):
    out = _copy(one_process, tmp_path)
    (out / weights_name(2)).unlink()
    (out / MANIFEST).unlink()
    assert cross_validate(data, out, SMOKE, only_folds=(0, 1)) is None
    assert not (out / MANIFEST).exists()
    summary = cross_validate(data, out, SMOKE, only_folds=(2,))
    assert summary is not None and set(summary["per_fold"]) == {"0", "1", "2", "3", "4"}


@pytest.mark.slow
def test_the_manifest_lists_every_device_the_folds_were_trained_on(one_process, tmp_path):
    model = _copy(one_process, tmp_path)
    _edit_result(model, 3, device="cuda", threads=8)
    path = fold_dir(model, 2) / FOLD_RESULT  # a result written before device and threads were recorded
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k not in ("device", "threads", "seconds")}))
    data = assemble(model)["data"]
    assert (data["device"], data["threads"]) == ("cpu, cuda, unknown", "1, 8, unknown")
    data = assemble(model, device="cpu", threads=1)["data"]
    assert (data["device"], data["threads"]) == ("cpu, cuda", "1, 8")


def test_one_ensemble_per_lead_set_trained_by_separate_runs_is_assembled_set_by_set(data, tmp_path, capsys):
    from ecgnet.fileio import lead_set_dir
    from ecgnet.inference.ensemble import LeadSetEnsembles, load_ensemble

    config = SMOKE.replace(lead_sets="I,II;I", lead_networks="per_set", n_folds=2, epochs=1)
    model = tmp_path / "model"
    assert train_ensemble(data, model, config, only_folds=(0,)) is None
    with pytest.raises(ModelDirError, match="training is unfinished.*python -m ecgnet assemble"):
        load_ensemble(model)
    assert train_ensemble(data, model, config, only_folds=(1,)) is not None  # the run that finishes the sets assembles them
    for leads in config.trained_lead_sets:  # as when the folds' files were gathered from several machines
        (lead_set_dir(model, leads) / MANIFEST).unlink()
    assert main(["--quiet", "assemble", str(model)]) == 0
    assert capsys.readouterr().out.count("2 folds assembled") == 2
    assert isinstance(load_ensemble(model), LeadSetEnsembles)


def test_train_model_keeps_its_cache_where_ecgnet_cache_dir_says_and_the_next_training_reuses_it(data, tmp_path, monkeypatch, caplog):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "workers": 1, "epochs": 1, "lr_milestones": [1], "n_folds": 2}))
    monkeypatch.setenv("ECGNET_CONFIG", str(config))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    train_12ECG_classifier(str(data), str(tmp_path / "a"))
    built = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert built and not (tmp_path / "a" / WORK_DIR).exists()
    with caplog.at_level(logging.INFO, logger="ecgnet"):
        train_12ECG_classifier(str(data), str(tmp_path / "b"))
    assert "reusing record cache" in caplog.text and sorted(path.name for path in (tmp_path / "cache").iterdir()) == built
    assert load_manifest(tmp_path / "b")["folds"]
