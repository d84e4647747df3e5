"""Which insights a fetch can include: the names of ``ConversationInsights`` fields.

Here, next to the models, so that the client and the batch engine share one list without
either importing the other.
"""

from __future__ import annotations

__all__ = ["ALL_INCLUDE", "DEFAULT_INCLUDE"]

DEFAULT_INCLUDE: tuple[str, ...] = (
    "conversation",
    "messages",
    "topics",
    "questions",
    "action_items",
    "follow_ups",
    "members",
    "analytics",
)
"""What ``client.conversations.fetch_insights`` fetches unless told otherwise."""

ALL_INCLUDE: tuple[str, ...] = (
    *DEFAULT_INCLUDE,
    "entities",
    "trackers",
    "summary",
    "insights",
    "transcript",
)
"""Every kind ``client.conversations.fetch_insights`` can fetch: ``ConversationInsights`` fields."""
