#!/usr/bin/env python
"""``python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR``: one ``NAME.csv`` per ``NAME.mat``, as the official 2020 script.

The loop lives in ``ecgnet.predict``: it classifies several records per forward pass, so
its labels equal per-record ``run_12ECG_classifier`` calls and its scores equal them to
float tolerance; a bad record is logged and listed instead of stopping the run (exit
status 1), files are written atomically, and replaced files are reported.
"""
import logging
import sys

from ecgnet.predict import main

if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main(*sys.argv[1:]))
