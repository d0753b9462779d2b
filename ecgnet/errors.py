"""The project's own error types: each names the file and what is wrong with it."""
from __future__ import annotations

from pathlib import Path


class FileError(ValueError):
    """A file given to the project cannot be read or breaks its format.

    ``path`` is the offending file and ``reason`` a short human sentence; ``str()``
    gives ``"PATH: reason"`` so one log line says everything a user needs.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class RecordError(FileError):
    """A record (header and/or signal file) cannot be read or is not usable."""


class OutputFileError(FileError):
    """A model output file (``NAME.csv``) that cannot be read or breaks the challenge format."""


class ModelDirError(RuntimeError):
    """A model directory is missing, incomplete, tampered with or from another version."""


class TooFewRecordsError(ValueError):
    """The training directory holds too few labelled records to build the folds."""


class ScoringError(RuntimeError):
    """The scorer cannot score: missing output files, no label files, no output directory."""


class ConfigError(ValueError):
    """A configuration that names no preset, or a JSON file that is unreadable or invalid."""


class AnalysisError(ValueError):
    """An analysis input (a cv results directory, a review key, a rating sheet) is missing or malformed."""


# Errors caused by what the user gave (paths, data, configuration, model directory): the
# command-line tools print them as one line, without a traceback, and exit with status 2.
USER_ERRORS: tuple[type[BaseException], ...] = (RecordError, ModelDirError, ConfigError, TooFewRecordsError, ScoringError,
                                                AnalysisError, FileNotFoundError, NotADirectoryError)
