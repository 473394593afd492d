"""dotsync: keep DotDigital address books in sync with customer segments."""

from __future__ import annotations

__version__ = "0.1.0"
