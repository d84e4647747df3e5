"""The ``symbl-async`` command: entry point, batch commands, progress, demo.

``_main`` (``main``, ``build_parser``), ``_batch`` (``process`` and ``status``),
``_argtypes`` (number parsers), ``_demo`` (``symbl-async demo``).

May import anything in the package; nothing imports it.
"""

from __future__ import annotations

from symbl_async.cli._main import (
    build_parser,
    main,
)

__all__ = [
    "build_parser",
    "main",
]
