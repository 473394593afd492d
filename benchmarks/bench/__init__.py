"""The pieces of ``benchmarks/run.py``: emulator process, data, measured exports, the naive
per-profile export, targets and the report. Not part of the ``dotsync`` package: it drives dotsync
only from the outside (its CLI in a subprocess, its HTTP client for the naive comparison)."""
