"""A training set's labels in the class set a model learns (``config.Config.challenge``).

The record cache holds each record's labels in the default class set, 2020's
(``data.cache``). Another challenge's labels are read from the records' own headers
(every ``#Dx`` code, scored in 2020 or not; ``challenge.classes.ClassSet.encode_codes``),
so a record labelled only with 2020 codes is valid 2021 training data: its 2021-only
classes (BBB, PRWP; CLBBB, which 2021 scores as LBBB) are simply absent. Only the headers
are read again, never the signals.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgnet.challenge.classes import DEFAULT_CLASS_SET, ClassSet
from ecgnet.data.cache import Cache
from ecgnet.errors import RecordError
from ecgnet.records.files import find_records
from ecgnet.records.header import read_dx_codes


def class_labels(cache: Cache, data_dir: str | Path, classes: ClassSet) -> np.ndarray:
    """(N, C) bool: each of the cache's N records' labels in ``classes``, in the cache's order.

    The cache's own labels for the default set; another set's from the headers in
    ``data_dir`` (the folder the cache was built from). Raises ``RecordError`` naming the
    folder when a cached record's header is gone (the data changed since the cache was built).
    """
    if classes.name == DEFAULT_CLASS_SET:
        return np.asarray(cache.labels, dtype=bool)
    headers = {files.name: files.header for files in find_records(data_dir).records if files.header is not None}
    labels = np.zeros((len(cache), classes.num_classes), dtype=bool)
    for i, name in enumerate(str(n) for n in cache.names):
        path = headers.get(name)
        if path is None:
            raise RecordError(data_dir, f"record {name} of the record cache has no header here any more: the data changed "
                                        f"while training; run again")
        labels[i] = classes.encode_codes(read_dx_codes(path))
    return labels
