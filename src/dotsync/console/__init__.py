"""The web console of ``dotsync serve``: one Starlette app with ``/healthz``, ``/metrics`` and,
unless ``--no-console``, pages for users of three roles.

The core (this package's modules) gives the server, sessions, CSRF, roles, the audit log, run
requests and languages; the domain pages live in :mod:`dotsync.console.pages` and use only the
contract of :mod:`dotsync.console.web`. Importing this package imports nothing else, so the CLI
and the state layer can use :mod:`dotsync.console.users` without loading the web stack.
"""
