"""Module the organisers' own ``driver.py`` imports: re-exports ``team_code``'s functions."""
from team_code import load_12ECG_model, run_12ECG_classifier

__all__ = ["load_12ECG_model", "run_12ECG_classifier"]
