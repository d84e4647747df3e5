"""A local emulator of the Symbl.ai Async API, for demos, tests and benchmarks.

It follows the project's API reference and Symbl's doc pages: OAuth tokens, the ten
submit endpoints, the Job API with ``scheduled -> in_progress -> completed/failed``, the
account's concurrent-job limit (429), webhooks (with optional faults: drops, duplicates,
reordering, delays) and the Conversation API with deterministic insights.
Jobs run ``time_scale`` times faster than the real service. Seeded faults make
it misbehave on purpose (``EmulatorConfig.submit_*``, ``job_status_404_rate``,
``token_error_rate``, ``job_failure_rate``, ``foreign_jobs``...), reproducibly, and
``upload_bandwidth`` gives it a slow uplink. Counters, including what was paid for twice,
are at ``GET /_emulator/stats`` and ``GET /_emulator/jobs`` (no auth needed). Only the
configured appId/appSecret pair gets a token: the demo pair (``emu.app_id``/
``emu.app_secret``) by default.

    async with Emulator(time_scale=1000, concurrency_limit=5) as emu:
        ...  # point a client at emu.url with emu.app_id / emu.app_secret

What lives here: running it in-process or standalone (``_server``); its configuration
(``_config``); the aiohttp app, its auth middleware and token route (``_app``), what
every route shares (``_routing``), the submit routes and the Job API (``_submits``), the
Conversation API (``_conversations``), its list filter (``_rsql``); the one scheduler
timer for every job and the account's state and counters (``_state``), records
(``_model``), submit options (``_options``), tokens (``_tokens``), faults (``_faults``),
webhook deliveries (``_webhooks``), the slow uplink (``_uplink``); content: transcripts
(``_content``, ``_transcripts``), speaker events (``_speakers``), insights (``_insights``,
the action items' rules in ``_actions``), entities (``_entities``), JSON views and
formatted transcripts (``_render``).

May import: :mod:`symbl_async.core` (media sniffing, ISO 8601 times), the standard
library, ``aiohttp``, ``attrs`` and ``multidict``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._config import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    SUBMIT_FAULT_STATUSES,
    TOKEN_FAULT_STATUSES,
    EmulatorConfig,
)

if TYPE_CHECKING:
    from ._app import create_app
    from ._server import Emulator, run_standalone

# Loaded on first use (PEP 562): the CLI builds the emulator command's flags from the
# configuration on every start, and only ``emulator``, ``demo`` and ``--emulator`` run one.
_LAZY = {"create_app": "._app", "Emulator": "._server", "run_standalone": "._server"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

__all__ = [
    "DEMO_APP_ID",
    "DEMO_APP_SECRET",
    "SUBMIT_FAULT_STATUSES",
    "TOKEN_FAULT_STATUSES",
    "Emulator",
    "EmulatorConfig",
    "create_app",
    "run_standalone",
]
