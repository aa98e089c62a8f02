"""The tanas command line. Thin: it parses arguments, calls the library and prints.

One module per command group: :mod:`~tanas.cli.tasks`, :mod:`~tanas.cli.zoo`,
:mod:`~tanas.cli.distance`, :mod:`~tanas.cli.search` and :mod:`~tanas.cli.demo`
(``demo`` and ``report``); the options they share are in :mod:`~tanas.cli.options`.
:mod:`~tanas.cli.main` holds the app and :func:`main`, where every
:class:`tanas.errors.TanasError` becomes one line on stderr and exit status 2.
At module level nothing here imports torch, so a cached ``tanas zoo nearest`` never loads it.
"""

from tanas.cli.main import app, main

__all__ = ["app", "main"]
