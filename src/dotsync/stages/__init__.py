"""The stages of a run, one module each, in the order ``runner`` calls them: ``context`` (what a
run works with: configuration, locks' names, its work folder, its DuckDB and DotDigital
connections), ``resume``, ``prepare`` (read, validate, read the book, plan), ``leave`` (the guard,
the leavers, a move to another book), ``send``. Each takes what it needs as arguments; none keeps
state between runs."""
