"""Module the organisers' own ``train_model.py`` imports: re-exports ``team_code``'s function."""
from team_code import train_12ECG_classifier

__all__ = ["train_12ECG_classifier"]
