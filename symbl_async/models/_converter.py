"""The one cattrs converter: camelCase JSON keys, lenient parsing, ISO-8601 datetimes.

Rules it applies to every attrs class (models, :class:`~symbl_async.core._jobs.JobInfo`):

- snake_case attributes map to camelCase keys (``start_time`` <-> ``startTime``); a trailing
  underscore is dropped (``from_`` <-> ``from``); ``attrs.field(metadata=json_key("x"))``
  names a key explicitly.
- Keys the class does not know are ignored, so new API fields never break parsing.
- A key that is absent, or ``null``, takes the attribute's default (``None`` for optional
  fields), so sparse answers parse; a null for a required field is an error.
- Strings and booleans are taken as they are (numbers are accepted for strings, ``"true"``
  and ``"false"`` for booleans), never coerced with ``str()`` or ``bool()``.
- Datetimes parse from ISO-8601 (``2020-07-10T11:16:21.024Z``) to aware UTC-offset
  ``datetime`` and are written back as ISO-8601 with ``Z``.
- Enums are built with ``cls(value)``; subclass :class:`OpenStrEnum` (or give the enum a
  ``_missing_`` like :class:`~symbl_async.core._jobs.JobStatus`) to keep unknown values.
- Unstructuring omits attributes whose value is ``None``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from symbl_async.core._isotime import format_iso, parse_iso
from symbl_async.errors import ResponseDecodeError

__all__ = [
    "JSON_KEY",
    "OpenStrEnum",
    "camel_case",
    "converter",
    "json_key",
    "structure",
    "unstructure",
]

T = TypeVar("T")

JSON_KEY = "symbl_async.json_key"
"""attrs field metadata key naming the JSON key explicitly; see :func:`json_key`."""


def json_key(key: str) -> dict[str, str]:
    """Return attrs field metadata that maps the field to the JSON key ``key``.

    Args:
        key: the key used on the wire.

    Returns:
        Metadata for ``attrs.field(metadata=...)``.
    """
    return {JSON_KEY: key}


def camel_case(name: str) -> str:
    """Return the camelCase JSON key for a snake_case name (``from_`` gives ``from``).

    Args:
        name: a Python identifier in snake_case; camelCase passes through unchanged.

    Returns:
        The camelCase key.
    """
    head, *rest = name.strip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class OpenStrEnum(str, enum.Enum):
    """A str enum that keeps values it does not list instead of rejecting them.

    An unknown value becomes a pseudo-member whose ``value`` is the string received, so
    an answer carrying a value newer than this client still parses and round-trips.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member


def _key(attribute: attrs.Attribute[Any]) -> str:
    explicit = attribute.metadata.get(JSON_KEY)
    return explicit if isinstance(explicit, str) else camel_case(attribute.name)


def _structure_attrs_factory(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Build the structure hook of one attrs class: camelCase keys, nulls take defaults."""
    fields = attrs.fields(cls)
    renames: dict[str, Any] = {a.name: override(rename=_key(a)) for a in fields}
    generated = make_dict_structure_fn(cls, conv, **renames)
    # A null for a field with a default means "not there": drop it so the default applies
    # (empty tuple for lists, None for optional fields).
    nullable_keys = frozenset(_key(a) for a in fields if a.default is not attrs.NOTHING)

    def structure_attrs(data: Any, type_: Any) -> Any:
        if isinstance(data, Mapping):
            data = {k: v for k, v in data.items() if v is not None or k not in nullable_keys}
        return generated(data, type_)

    return structure_attrs


def _unstructure_attrs_factory(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any], Any]:
    """Build the unstructure hook of one attrs class: camelCase keys, None omitted."""
    renames: dict[str, Any] = {a.name: override(rename=_key(a)) for a in attrs.fields(cls)}
    generated = make_dict_unstructure_fn(cls, conv, **renames)

    def unstructure_attrs(obj: Any) -> dict[str, Any]:
        return {k: v for k, v in generated(obj).items() if v is not None}

    return unstructure_attrs


def _structure_datetime(value: Any, _: Any) -> dt.datetime:
    """Parse an ISO-8601 string (``Z`` or offset; no offset means UTC) to an aware datetime.

    :func:`~symbl_async.core._isotime.parse_iso` takes any fraction length on every
    Python, so the docs' own ``2020-07-21T16:04:19.99Z`` parses on 3.10 too.
    """
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        return parse_iso(value)
    raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")


def _unstructure_datetime(value: dt.datetime) -> str:
    """Write a datetime as ISO-8601 UTC with ``Z`` (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return format_iso(value)


def _structure_str(value: Any, type_: type[str]) -> str:
    """Take strings (and numbers, for ids sent as numbers); refuse null and the rest.

    cattrs' default is ``str(value)``, which would turn a null ``text`` into ``"None"``.
    str enums dispatch here too and are built with ``type_(value)``.
    """
    if type_ is not str:
        return type_(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    """Take booleans (and "true"/"false", 0/1); cattrs' ``bool("false")`` would be True."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def _structure_enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    # cls(value) goes through the enum's _missing_, which is where leniency lives.
    return type_(value)


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _unstructure_str(value: str) -> str:
    # str enums (JobStatus, OpenStrEnum) dispatch on ``str`` before any enum hook: give
    # plain strings back, so unstructured data compares and serialises as plain JSON.
    return value.value if isinstance(value, enum.Enum) else value


def _is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def make_converter() -> cattrs.Converter:
    """Build the package's converter.

    Returns:
        A converter applying the rules in this module's docstring.
    """
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(dt.datetime, _structure_datetime)
    conv.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    conv.register_structure_hook_func(_is_enum, _structure_enum)
    conv.register_unstructure_hook_func(_is_enum, _unstructure_enum)
    conv.register_unstructure_hook(str, _unstructure_str)
    conv.register_structure_hook_factory(attrs.has, _structure_attrs_factory)
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)
    return conv


converter = make_converter()
"""The module-level converter every part of ``symbl_async`` uses."""


def structure(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from decoded JSON.

    Args:
        data: decoded JSON (dicts, lists, strings, numbers).
        cls: the target type, e.g. ``Message`` or ``list[Message]``.

    Returns:
        An instance of ``cls``.

    Raises:
        ResponseDecodeError: when ``data`` does not have the shape of ``cls`` (a
            required key is missing or a value has the wrong type); the cattrs
            error is chained as its cause.
    """
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        name = getattr(cls, "__name__", str(cls))
        raise ResponseDecodeError(f"the answer does not have the shape of {name}: {exc}") from exc


def unstructure(obj: Any) -> Any:
    """Turn a model back into JSON-ready data (camelCase keys, None omitted).

    Args:
        obj: a model instance, or a list of them.

    Returns:
        Dicts, lists, strings and numbers, ready for ``json.dumps``.
    """
    return converter.unstructure(obj)
