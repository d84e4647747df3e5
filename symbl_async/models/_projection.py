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
# The API's usual form, already as format_iso writes it and a valid date and time: kept
# as it is after one match. A whole-millisecond or no fraction; any year but 0000; days
# 29-31 only in the months that have them (29 February goes the longer way, with the
# calendar check). One match costs about half of the longer way (a profile put the
# times' checks at a third of a message's projection).
_CANONICAL_TIME = re.compile(
    r"(?!0000)\d{4}-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.(?!000)\d{3})?Z",
    re.ASCII,
).fullmatch

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
    if type(value) is not str:
        raise _Slow
    if _CANONICAL_TIME(value) is not None:
        return value
    match = _UTC_TIME.fullmatch(value)
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

    _LIST_ITEMS[project_list] = item
    return project_list


_LIST_ITEMS: dict[_Projector, _Projector] = {}
"""Each list projector's item projector, for :func:`_generate` to inline the list."""


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


# Field projectors whose check is one type test, inlined in a class's generated code.
_INLINE_TYPE: dict[_Projector, str] = {_str: "str", _bool: "bool", _int: "int"}


def _class_projector(cls: type[Any]) -> _Projector:
    known = _CLASSES.get(cls)
    if known is not None:
        return known
    # Registered before the fields (a model may hold itself): a field of that model calls
    # this forwarder, which calls the generated function once it exists.
    built: list[_Projector] = []

    def forward(value: Any) -> Any:
        return built[0](value)

    _CLASSES[cls] = forward
    try:
        attrs.resolve_types(cls)
        fields: list[tuple[str, _Projector, str]] = []
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
        project_class = _generate(cls, fields)
    except BaseException:
        del _CLASSES[cls]  # no half-built projector left behind
        raise
    built.append(project_class)
    _CLASSES[cls] = project_class
    return project_class


def _generate(cls: type[Any], fields: list[tuple[str, _Projector, str]]) -> _Projector:
    """A model's projector as straight-line code, one block per field, as attrs writes its
    ``__init__``: a loop over the fields calling each one's projector cost twice as much
    (a tenth of a batch's CPU went to projecting insights).

    For each field, in order: absent or null gives its default (``[]`` for a list, left
    out when optional, the slow path when required); a present value is checked and
    projected by the field's projector (inlined: the type test of str, bool, int and
    float, the usual form of a time, the value itself for Any, the comprehension of a
    list). Keys keep the fields' order.
    """
    names: dict[str, Any] = {"_Slow": _Slow}
    lines = [
        "def project_class(value):",
        "    if type(value) is not dict:",
        "        raise _Slow",
        "    get = value.get",
        "    out = {}",
    ]
    for i, (key, project_field, default) in enumerate(fields):
        k = repr(key)
        lines.append(f"    v = get({k})")
        if default is _REQUIRED:
            lines += ["    if v is None:", "        raise _Slow"]
            indent = "    "
        else:
            lines.append("    if v is None:")
            lines.append(f"        out[{k}] = []" if default is _EMPTY_LIST else "        pass")
            lines.append("    else:")
            indent = "        "
        inline = _INLINE_TYPE.get(project_field)
        item = _LIST_ITEMS.get(project_field)
        if inline is not None:
            lines += [f"{indent}if type(v) is not {inline}:", f"{indent}    raise _Slow",
                      f"{indent}out[{k}] = v"]
        elif project_field is _identity:
            lines.append(f"{indent}out[{k}] = v")
        elif project_field is _datetime:  # the usual form in one match, inline
            names["_canonical_time"], names["_datetime"] = _CANONICAL_TIME, _datetime
            lines += [f"{indent}if type(v) is not str or _canonical_time(v) is None:",
                      f"{indent}    v = _datetime(v)", f"{indent}out[{k}] = v"]
        elif project_field is _float:
            lines += [f"{indent}t = type(v)", f"{indent}if t is int:", f"{indent}    v = float(v)",
                      f"{indent}elif t is not float:", f"{indent}    raise _Slow",
                      f"{indent}out[{k}] = v"]
        elif item is not None:  # a list: empty ones (most) cost one test
            lines += [f"{indent}if type(v) is not list:", f"{indent}    raise _Slow"]
            if item is _str:
                lines += [f"{indent}for e in v:", f"{indent}    if type(e) is not str:",
                          f"{indent}        raise _Slow", f"{indent}out[{k}] = list(v)"]
            else:
                names[f"p{i}"] = item
                lines.append(f"{indent}out[{k}] = [p{i}(e) for e in v] if v else []")
        else:
            names[f"p{i}"] = project_field
            lines.append(f"{indent}out[{k}] = p{i}(v)")
    lines.append("    return out")
    code = compile("\n".join(lines) + "\n", f"<projection of {cls.__qualname__}>", "exec")
    exec(code, names)  # our own code, written above from the model's attrs fields
    project_class: _Projector = names["project_class"]
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
