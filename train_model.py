#!/usr/bin/env python
"""``python train_model.py TRAINING_DIR MODEL_DIR``: train the ensemble, as the official 2020 script."""
import os
import sys

from team_code import train_12ECG_classifier

if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python train_model.py TRAINING_DIR MODEL_DIR")
    input_directory, output_directory = sys.argv[1], sys.argv[2]
    os.makedirs(output_directory, exist_ok=True)
    print("Running training code...")
    train_12ECG_classifier(input_directory, output_directory)
    print("Done.")
