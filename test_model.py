#!/usr/bin/env python
"""``python test_model.py MODEL_DIR DATA_DIR OUTPUT_DIR``: the 2021 challenge's name for ``driver.py``.

One ``NAME.csv`` per record of DATA_DIR (``#RECORD_ID``, the classes, the labels, the
probabilities), from a model directory of either challenge; a 2021 model
(``python train_model.py --challenge 2021``) reads records of any of its lead sets. The
command is ``driver.py``'s (``ecgnet.entry_points.driver_main``): several records per
forward pass, a bad record logged and listed instead of stopping the run (exit status 1),
files written atomically. The organisers' own 2021 ``test_model.py`` calls
``team_code.load_model`` and ``team_code.run_model`` instead, with the same answers.
"""
import sys

from ecgnet.entry_points import driver_main

if __name__ == "__main__":
    sys.exit(driver_main(sys.argv[1:], prog="test_model.py"))
