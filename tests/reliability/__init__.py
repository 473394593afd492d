"""The reliability suite: kills, fault storms and emulator restarts (see docs/RELIABILITY.md)."""
