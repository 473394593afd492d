"""One module per schema revision, applied in order by :mod:`dotsync.state.migrate`."""
