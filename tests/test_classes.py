"""The class catalogue must match the official tables the organisers' scorer reads."""
import numpy as np
import pytest
from conftest import shared_path

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
