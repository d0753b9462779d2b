"""Reading records from disk: ``header`` (NAME.hea, all the scorer needs), ``files`` (finding records, naming sources),
``reader`` (signals read, checked, scaled to mV and repaired into a ``Record``); the clinical files (``dicom``, ``muse``,
``aecg``, sharing ``clinical``) into the same ``Record``; ``formats`` (any supported file, by suffix or content)."""
