"""A local emulator of the Symbl.ai Async API, for demos, tests and benchmarks.

It follows the project's API reference: OAuth tokens, the ten submit endpoints,
the Job API with ``scheduled -> in_progress -> completed/failed``, the account's
concurrent-job limit (429), webhooks (with optional faults: drops, duplicates,
reordering, delays) and the Conversation API with deterministic insights.
Jobs run ``time_scale`` times faster than the real service. Seeded faults make
it misbehave on purpose (``EmulatorConfig.submit_*``, ``job_status_404_rate``,
``token_error_rate``, ``job_failure_rate``, ``foreign_jobs``...), reproducibly.
Counters, including what was paid for twice, are at ``GET /_emulator/stats`` and
``GET /_emulator/jobs`` (no auth needed). Only the configured appId/appSecret
pair gets a token: the demo pair (``emu.app_id``/``emu.app_secret``) by default.

    async with Emulator(time_scale=1000, concurrency_limit=5) as emu:
        ...  # point a client at emu.url with emu.app_id / emu.app_secret
"""

from .app import create_app
from .config import EmulatorConfig
from .server import Emulator, run_standalone

__all__ = ["Emulator", "EmulatorConfig", "create_app", "run_standalone"]
