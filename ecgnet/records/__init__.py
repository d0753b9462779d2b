"""Reading records from disk: ``header`` (NAME.hea, all the scorer needs), ``files`` (finding records, naming sources),
``reader`` (signals read, checked, scaled to mV and repaired into a ``Record``)."""
