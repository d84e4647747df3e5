"""The ``symbl-async`` command: entry point, batch commands, progress, demo.

``_main`` (``main``, ``build_parser``, logging flags, ``emulator``), ``_loop`` (the
console script's event loop), ``_process_args``
(the flags of ``process``), ``_batch`` (``process``: checks, then the run), ``_progress``
(the progress bar, fitted to the terminal), ``_skips`` (what folder walks left out),
``_status`` (``status``, read-only), ``_argtypes`` (number parsers), ``_demo``
(``symbl-async demo``).

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
