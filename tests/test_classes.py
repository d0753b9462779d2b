"""The class catalogue must match the official tables the organisers' scorers read."""
import dataclasses
import tomllib

import numpy as np
import pytest
from conftest import REPO, shared_path

from ecgnet.challenge import classes


def test_24_classes_in_weights_order_with_equivalents_collapsed():
    assert classes.NUM_CLASSES == 24
    assert classes.CLASSES[:5] == ("270492004", "164889003", "164890007", "426627000", "713427006")
    for first, second in classes.EQUIVALENT_PAIRS:
        assert first in classes.CLASS_INDEX and second not in classes.CLASS_INDEX
    assert classes.CLASSES[classes.NORMAL_INDEX] == "426783006"


def test_weights_are_the_official_submatrix():
    weights = classes.load_weights()
    assert weights.shape == (24, 24)
    assert np.all(np.diag(weights) == 1.0)
    assert np.allclose(weights, weights.T)
    assert weights[classes.CLASS_INDEX["270492004"], classes.CLASS_INDEX["164889003"]] == 0.3


def test_root_weights_equal_the_specification_table():
    spec = shared_path("data", "challenge-2020", "weights.csv")
    assert spec.read_bytes() == classes.WEIGHTS_FILE.read_bytes()


def test_encode_codes_merges_equivalents_and_ignores_unscored():
    vector = classes.encode_codes(["59118001", " 63593006", "17338001", "164865005", ""])
    assert vector.sum() == 3
    assert vector[classes.CLASS_INDEX["713427006"]] and vector[classes.CLASS_INDEX["284470004"]]
    assert vector[classes.CLASS_INDEX["427172004"]]


def test_names_for_scored_and_unscored_codes():
    assert classes.abbreviation("59118001") == "RBBB"
    assert classes.abbreviation("164865005") == "MI"
    assert classes.description("426783006") == "sinus rhythm"
    assert classes.abbreviation("999") == "999"


def test_a_class_is_found_by_abbreviation_or_code_and_an_unknown_name_is_refused():
    lad = classes.CLASSES.index("39732003")
    assert classes.class_index("LAD") == classes.class_index("lad") == classes.class_index(" 39732003 ") == lad
    # Either member of an equivalent pair names the merged class.
    assert classes.class_index("RBBB") == classes.class_index("59118001") == classes.class_index("CRBBB") == classes.CLASSES.index("713427006")
    with pytest.raises(ValueError, match="not a scored class.*LAD"):
        classes.class_index("LADX")
    with pytest.raises(ValueError, match="not a scored class"):
        classes.class_index("164865005")  # a real SNOMED CT code, but unscored


# ---- class sets: 2020 (the default) and 2021 ---------------------------------------------------

def test_the_module_names_are_the_default_2020_class_set_which_a_name_finds_again():
    default = classes.class_set()
    assert default is classes.class_set("2020") is classes.class_set(2020) and default.name == "2020"
    assert classes.CLASSES == default.codes and classes.load_weights() is default.weights
    assert classes.NORMAL_INDEX == default.normal_index and classes.ABBREVIATIONS == default.abbreviations
    assert default.members[classes.CLASS_INDEX["713427006"]] == ("713427006", "59118001")


def test_2021_has_26_classes_of_30_codes_with_its_four_equivalences_from_the_table():
    s = classes.class_set("2021")
    assert s.num_classes == 26 and sum(map(len, s.members)) == 30 == len(s.code_index)
    assert {m for m in s.members if len(m) > 1} == {("733534002", "164909002"), ("713427006", "59118001"),
                                                    ("284470004", "63593006"), ("427172004", "17338001")}
    assert s.class_index("LBBB") == s.class_index("clbbb") == s.class_index("164909002") == s.codes.index("733534002")
    assert s.abbreviations[s.codes.index("6374002")] == "BBB" and s.class_index("PRWP") == s.codes.index("365413008")
    assert s.codes[s.normal_index] == "426783006" and s.descriptions[s.normal_index] == "sinus rhythm"
    vector = s.encode_codes(["164909002", " 59118001", "6374002", "164865005", ""])
    assert set(np.flatnonzero(vector)) == {s.class_index("CLBBB"), s.class_index("CRBBB"), s.class_index("BBB")}
    assert s.canonical_code(" 164909002") == "733534002" and not s.is_scored("164865005") and s.is_scored("17338001")
    assert s.abbreviation("164865005") == "MI"  # unscored codes keep their names


def test_the_24_classes_of_2020_keep_their_weights_in_2021():
    old, new = classes.class_set("2020"), classes.class_set("2021")
    same = [new.code_index[code] for code in old.codes]  # 2020's LBBB 164909002 is 2021's CLBBB|LBBB
    assert np.array_equal(new.weights[np.ix_(same, same)], old.weights)
    assert set(range(new.num_classes)) - set(same) == {new.class_index("BBB"), new.class_index("PRWP")}


def test_a_class_set_is_immutable_and_an_unknown_name_is_refused():
    s = classes.class_set("2021")
    with pytest.raises(ValueError):
        s.weights[0, 0] = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "2020"
    with pytest.raises(TypeError):
        s.code_index["164865005"] = 0
    with pytest.raises(ValueError, match="unknown class set '2019': known are 2020, 2021"):
        classes.class_set("2019")
    with pytest.raises(ValueError, match="not a scored class of the 2021 challenge.*PRWP"):
        s.class_index("MI")


def test_the_2021_tables_equal_the_specification_tables():
    spec = shared_path("data", "challenge-2021")
    for name in ("weights.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        assert (classes.class_set("2021").table_dir / name).read_bytes() == (spec / name).read_bytes(), name


def test_the_package_data_carries_every_class_set_table():
    """What a wheel (``pip install .``) holds beside the code: pyproject's package-data patterns must cover each table."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ecgnet"]
    carried = {path for pattern in patterns for path in (REPO / "ecgnet").glob(pattern)}
    for name in classes.CLASS_SETS:
        folder = classes.class_set(name).table_dir
        tables = {folder / table for table in ("weights.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv")}
        assert tables <= carried, sorted(map(str, tables - carried))
