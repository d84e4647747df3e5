"""Seeded fault injection: what goes wrong with a submit, a job, a job lookup or a token.

Each family of faults draws from its own generator, seeded from
``EmulatorConfig.seed`` and the family's name, and every draw makes the same
number of calls whatever its outcome: a run with the same seed and the same
requests sees the same faults, and turning on one family leaves the draws of
the others unchanged. Every fault applied is counted in :attr:`Faults.counts`
(``/_emulator/stats`` shows them as ``faults``).
"""

from __future__ import annotations

import collections
import random

import attrs

from ._config import EXCLUSIVE_SUBMIT_FAULTS, EmulatorConfig

__all__ = ["Faults", "JobFate", "SubmitFault"]


@attrs.frozen
class SubmitFault:
    """What happens to one submit.

    Attributes:
        kind: one of ``EXCLUSIVE_SUBMIT_FAULTS`` or ``None`` (no fault).
        status: the error status, for ``error_before`` and ``error_after``.
        hold: real seconds the submit waits before its job is created (``hold``).
        delay: real seconds the answer (or the drop) waits.
    """

    kind: str | None = None
    status: int | None = None
    hold: float = 0.0
    delay: float = 0.0

    @property
    def creates_job(self) -> bool:
        """Whether the job is created (every outcome but an error or drop before it)."""
        return self.kind not in ("error_before", "reset_before")


@attrs.frozen
class JobFate:
    """How one job will run: whether it fails, and its processing time multiplier."""

    fails: bool
    speed: float


class Faults:
    """Draws faults from seeded generators and counts those applied."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        seed = config.seed
        self._submits = random.Random(f"{seed}:submits")
        self._jobs = random.Random(f"{seed}:jobs")
        self._lookups = random.Random(f"{seed}:job-status")
        self._tokens = random.Random(f"{seed}:tokens")
        self.counts: collections.Counter[str] = collections.Counter()

    def submit(self) -> SubmitFault:
        """Draw the fault (if any) of one valid submit (counted when applied: see :meth:`count`)."""
        config, rng = self._config, self._submits
        draw = rng.random()
        kind: str | None = None
        cumulative = 0.0
        for name, field in EXCLUSIVE_SUBMIT_FAULTS.items():
            cumulative += getattr(config, field)
            if draw < cumulative:
                kind = name
                break
        before = rng.choice(config.submit_error_before_statuses)
        after = rng.choice(config.submit_error_after_statuses)
        hold = rng.uniform(*config.submit_hold)
        delayed = rng.random() < config.submit_delay_rate
        delay = rng.uniform(*config.submit_delay)
        status = before if kind == "error_before" else after if kind == "error_after" else None
        return SubmitFault(
            kind=kind,
            status=status,
            hold=hold if kind == "hold" else 0.0,
            delay=delay if delayed else 0.0,
        )

    def job(self) -> JobFate:
        """Draw whether a new job fails (``job_failure_rate``) and its speed multiplier."""
        rng = self._jobs
        fails = rng.random() < self._config.job_failure_rate
        speed = rng.uniform(*self._config.processing_jitter)
        return JobFate(fails=fails, speed=speed)

    def count(self, kind: str) -> None:
        """Count a fault applied by its caller (a drawn fault may not apply, e.g. after a 429)."""
        self.counts[kind] += 1

    def job_status_404(self) -> bool:
        """Whether this ``GET /v1/job/{id}`` of an existing job answers 404 anyway."""
        if self._lookups.random() < self._config.job_status_404_rate:
            self.counts["job_status_404"] += 1
            return True
        return False

    def token_error(self) -> int | None:
        """The error status this token request answers, or ``None``."""
        rng = self._tokens
        failing = rng.random() < self._config.token_error_rate
        status = rng.choice(self._config.token_error_statuses)
        if failing:
            self.counts[f"token_{status}"] += 1
            return status
        return None
