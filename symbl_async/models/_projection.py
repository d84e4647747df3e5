"""Answers straight to JSON-ready data, without building models: :func:`project`.

``project(data, Message)`` returns what ``unstructure(structure(data, Message))`` returns,
at a fraction of the cost: a batch that only writes insights to disk spent ~25% of its
event loop's CPU building models with cattrs and turning them back into dicts.

Exactness comes from a split rather than from re-implementing the converter's rules:

- a fast path, derived from the attrs fields, accepts only values whose result it knows
  for sure (a ``str`` for a string field, a ``list`` for a tuple field, a ``dict`` for a
  model, a canonical ``...Z`` ISO-8601 string for a datetime, ...) and applies what the
  converter would: camelCase keys, unknown keys dropped, null or absent optional fields
  left out, absent list fields written ``[]``, integers for float fields written as floats;
- anything else (a number for a string, ``"true"`` for a bool, a ``+02:00`` offset, a
  missing required key, an answer of the wrong shape) makes the whole value go through
  the converter, so odd answers give the converter's result, or its
  :class:`~symbl_async.errors.ResponseDecodeError`, exactly.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

import attrs

from symbl_async.models._converter import JSON_KEY, OpenStrEnum, camel_case, structure, unstructure

__all__ = ["project"]

_Projector = Callable[[Any], Any]

# An ISO-8601 UTC time; parse_iso takes more (offsets, no T, ...): those go the slow way.
# ASCII digits only: int() would read other digits, and format_iso write them back ASCII.
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z", re.ASCII)

_REQUIRED = "required"
_OMIT = "omit"
_EMPTY_LIST = "empty list"


class _Slow(Exception):
    """The fast path met a value whose result it does not know for sure."""


def _identity(value: Any) -> Any:
    return value


def _str(value: Any) -> Any:
    if type(value) is not str:
        raise _Slow
    return value


def _bool(value: Any) -> Any:
    if type(value) is not bool:
        raise _Slow
    return value


def _int(value: Any) -> Any:
    if type(value) is not int:
        raise _Slow
    return value


def _float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)  # the converter's float(): 5 is written 5.0
    raise _Slow


def _datetime(value: Any) -> Any:
    """What format_iso(parse_iso(value)) gives: the same time, with no fraction, whole
    milliseconds (3 digits) or microseconds (6), digits past the sixth cut."""
    match = _UTC_TIME.fullmatch(value) if type(value) is str else None
    if match is None:
        raise _Slow
    try:
        dt.datetime.fromisoformat(value[:19])  # the calendar check parse_iso makes
    except ValueError:
        raise _Slow from None
    digits = match.group(1)
    if digits is None or (len(digits) == 3 and digits != "000"):
        return value  # already as format_iso writes it (the API's usual form)
    micros = digits[:6].ljust(6, "0")
    if micros == "000000":
        return value[:19] + "Z"
    return f"{value[:19]}.{micros[:3] if micros.endswith('000') else micros}Z"


def _json_object(value: Any) -> Any:
    if type(value) is not dict or not all(type(key) is str for key in value):
        raise _Slow
    return dict(value)


def _list_of(item: _Projector) -> _Projector:
    def project_list(value: Any) -> Any:
        if type(value) is not list:
            raise _Slow
        return [item(element) for element in value]

    return project_list


_CLASSES: dict[type[Any], _Projector] = {}
_TOP: dict[Any, _Projector] = {}


def _projector(type_: Any) -> _Projector:
    """The fast path for one field type (``X | None`` is X: the caller drops nulls)."""
    origin = get_origin(type_)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in get_args(type_) if arg is not type(None)]
        if len(args) == 1:
            return _projector(args[0])
    elif origin is tuple:
        item, *rest = get_args(type_)
        if rest == [Ellipsis]:
            return _list_of(_projector(item))
    elif origin is dict:
        if get_args(type_) == (str, Any):
            return _json_object
    elif type_ is Any:
        return _identity
    elif isinstance(type_, type):
        if attrs.has(type_):
            return _class_projector(type_)
        if issubclass(type_, OpenStrEnum):
            return _str  # OpenStrEnum(s).value == s for every string s
        simple = {str: _str, bool: _bool, int: _int, float: _float, dt.datetime: _datetime}
        if type_ in simple:
            return simple[type_]
    # A model given a new kind of field: give it a fast path here (the tests project
    # every kind of insight, so they meet it first).
    raise TypeError(f"no fast path for {type_!r}")


def _class_projector(cls: type[Any]) -> _Projector:
    known = _CLASSES.get(cls)
    if known is not None:
        return known
    fields: list[tuple[str, _Projector, str]] = []

    def project_class(value: Any) -> Any:
        if type(value) is not dict:
            raise _Slow
        out: dict[str, Any] = {}
        get = value.get
        for key, project_field, default in fields:
            field = get(key)
            if field is None:  # absent or null: the default applies
                if default is _EMPTY_LIST:
                    out[key] = []
                elif default is _REQUIRED:
                    raise _Slow
                continue
            out[key] = project_field(field)
        return out

    _CLASSES[cls] = project_class  # before the fields: a model may hold itself
    try:
        attrs.resolve_types(cls)
        for field in attrs.fields(cls):
            explicit = field.metadata.get(JSON_KEY)
            key = explicit if isinstance(explicit, str) else camel_case(field.name)
            if field.default is attrs.NOTHING:
                default = _REQUIRED
            elif field.default is None:
                default = _OMIT
            elif field.default == ():
                default = _EMPTY_LIST
            else:
                raise TypeError(f"no fast path for the default of {cls.__name__}.{field.name}")
            fields.append((key, _projector(field.type), default))
    except BaseException:
        del _CLASSES[cls]  # no half-built projector left behind
        raise
    return project_class


def project(data: Any, type_: Any) -> Any:
    """Return ``unstructure(structure(data, type_))`` without building the models.

    Args:
        data: decoded JSON, e.g. the list of messages of an answer.
        type_: a model class, or ``list[Model]``.

    Returns:
        Dicts, lists, strings and numbers, equal to what the models would give back.

    Raises:
        ResponseDecodeError: when ``data`` does not have the shape of ``type_`` (as
            :func:`~symbl_async.models._converter.structure` raises it).
        TypeError: for a ``type_`` outside the models' kinds of field.
    """
    fast = _TOP.get(type_)
    if fast is None:
        if get_origin(type_) is list:
            fast = _list_of(_projector(get_args(type_)[0]))
        else:
            fast = _projector(type_)
        _TOP[type_] = fast
    try:
        return fast(data)
    except _Slow:
        return unstructure(structure(data, type_))
