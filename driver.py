#!/usr/bin/env python
"""``python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR``: one ``NAME.csv`` per ``NAME.mat``, as the official 2020 script.

The loop lives in ``ecgnet.inference.predict``: it classifies several records per forward pass, so
its labels equal per-record ``run_12ECG_classifier`` calls and its scores equal them to
float tolerance; a bad record is logged and listed instead of stopping the run (exit
status 1), files are written atomically, and replaced files are reported.
``--help`` answers at once; a missing folder is one line (exit status 2), Ctrl-C too
(exit status 130): ``ecgnet.entry_points.driver_main``.
"""
import sys

from ecgnet.entry_points import driver_main

if __name__ == "__main__":
    sys.exit(driver_main(sys.argv[1:]))
