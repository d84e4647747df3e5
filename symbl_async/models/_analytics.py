"""Models of ``GET /v1/conversations/{id}/analytics``: metrics and per-member analytics."""

from __future__ import annotations

import attrs

from symbl_async.models._converter import OpenStrEnum

__all__ = [
    "Analytics",
    "AnalyticsMember",
    "Metric",
    "MetricType",
    "Overlap",
    "OverlappingMember",
    "Pace",
    "TalkTime",
]


class MetricType(OpenStrEnum):
    """Kind of a conversation-wide analytics metric; unknown values are kept."""

    TOTAL_SILENCE = "total_silence"
    TOTAL_TALK_TIME = "total_talk_time"
    TOTAL_OVERLAP = "total_overlap"


@attrs.frozen(kw_only=True)
class Metric:
    """A conversation-wide metric of ``GET .../analytics``."""

    type: MetricType | None = None
    percent: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class Pace:
    """How fast a member spoke, in words per minute."""

    wpm: float | None = None


@attrs.frozen(kw_only=True)
class TalkTime:
    """A member's share of the conversation: used for both ``talkTime`` and ``listenTime``."""

    percentage: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class OverlappingMember:
    """A member who talked over another, and for how long."""

    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    percent: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class Overlap:
    """How long a member talked over others, and over whom."""

    overlap_duration: float | None = None
    overlapping_members: tuple[OverlappingMember, ...] = ()


@attrs.frozen(kw_only=True)
class AnalyticsMember:
    """Per-member analytics: pace, talk and listen time, overlap."""

    id: str
    name: str | None = None
    user_id: str | None = None
    pace: Pace | None = None
    talk_time: TalkTime | None = None
    listen_time: TalkTime | None = None
    overlap: Overlap | None = None


@attrs.frozen(kw_only=True)
class Analytics:
    """Answer of ``GET .../analytics``."""

    metrics: tuple[Metric, ...] = ()
    members: tuple[AnalyticsMember, ...] = ()
