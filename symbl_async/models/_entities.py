"""Entities: the items of ``GET .../entities`` and the entities tagged inside insights.

The API has answered ``GET .../entities`` in two shapes, and :class:`Entity` reads both
(``docs/service-notes.md``, "Entities: two shapes"):

- current docs (docs.symbl.ai "Get detected entities") and Symbl's Go SDK:
  ``{id, type, subType, category: "Custom" | "Managed", matches: [{value, messageRefs}]}``;
- the 2022 docs (Symbl docs, "GET Entities"): ``{type, customType, value, text,
  messageRefs}``, one item per value.

Entities tagged inside topics, action items, follow-ups and insights use the older,
flat form (``{type, text, offset, value}``), with ``start``/``end`` instead of ``value``
for ranges (``datetimerange``, ``timerange``, as in the follow-ups example).

One model rather than a union: which shape arrives is not announced by any key, a
lenient reader must not guess wrong and drop fields, and code that only wants "what
was found, and where" can use :attr:`Entity.values` and :attr:`Entity.all_message_refs`
whichever shape came.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from symbl_async.core._isotime import parse_iso
from symbl_async.models._common import MessageRef
from symbl_async.models._converter import OpenStrEnum

__all__ = ["Entity", "EntityCategory", "EntityMatch"]


class EntityCategory(OpenStrEnum):
    """Who defined an entity (current shape): you (``Custom``) or Symbl (``Managed``)."""

    CUSTOM = "Custom"
    MANAGED = "Managed"


@attrs.frozen(kw_only=True)
class EntityMatch:
    """One value an entity matched (current shape), and the messages it was found in.

    ``value`` is kept as sent: a string for most types, an object for some.
    """

    value: Any = None
    message_refs: tuple[MessageRef, ...] = ()


@attrs.frozen(kw_only=True)
class Entity:
    """An entity, in whichever shape the API sent it (see the module docstring).

    Current shape: ``id``, ``type``, ``sub_type``, ``category``, ``matches``.
    2022 shape and entities inside insights: ``type``, ``custom_type``, ``value``,
    ``text``, ``offset``, ``start``/``end`` (ranges), ``message_refs``.

    ``value`` is kept as the API sent it (usually a string; an object for a person
    inside an action item). ``start``/``end`` are kept as strings: the docs' examples
    are ``"2020-06-21 16:00:00"`` and bare times such as ``"12:00:00"``, not always
    full date-times.
    """

    id: str | None = None
    type: str | None = None
    sub_type: str | None = None
    category: EntityCategory | None = None
    matches: tuple[EntityMatch, ...] = ()
    custom_type: str | None = None
    value: Any = None
    text: str | None = None
    offset: int | None = None
    start: str | None = None
    end: str | None = None
    message_refs: tuple[MessageRef, ...] = ()

    @property
    def is_custom(self) -> bool:
        """Whether the entity is one of yours (``Custom`` category, or a ``customType``)."""
        return (
            self.category is EntityCategory.CUSTOM
            or self.custom_type is not None
            or (self.type or "").lower() == "custom"
        )

    @property
    def values(self) -> tuple[Any, ...]:
        """Every value found: each match's value (current shape), or ``value`` (2022 shape)."""
        if self.matches:
            return tuple(match.value for match in self.matches)
        return () if self.value is None else (self.value,)

    @property
    def all_message_refs(self) -> tuple[MessageRef, ...]:
        """Every message reference, from the matches and from the entity itself."""
        from_matches = tuple(ref for match in self.matches for ref in match.message_refs)
        return from_matches + self.message_refs

    @property
    def resolved_datetime(self) -> dt.datetime | None:
        """The first value that is an ISO 8601 date or date-time, as an aware datetime.

        Date entities carry the resolved date as their value (``text`` "today",
        ``value`` "2020-07-15" in the docs' example); a bare date gives midnight UTC.
        ``None`` when no value is such a string.
        """
        for value in self.values:
            if isinstance(value, str):
                try:
                    return parse_iso(value)
                except ValueError:
                    continue
        return None
