"""The benchmark's modules (``bench``, ``run``) live beside the tests, outside the package."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
