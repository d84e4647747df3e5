"""A small RSQL parser for ``GET /v1/conversations?filter=...``.

Supports what a client needs to find its conversations: comparisons
``selector==value`` and ``selector!=value`` (a ``*`` in the value is a wildcard),
``;`` (and), ``,`` (or) and parentheses; values quoted (``'...'`` or ``"..."``,
with backslash escapes) or bare. Selectors: ``conversation.name``,
``conversation.id``, ``conversation.type`` (``conversation.`` may be left out).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

__all__ = ["Predicate", "parse_filter", "parse_list_filter"]

Predicate = Callable[[Mapping[str, str]], bool]

_SELECTORS = {"name", "id", "type"}
_COMPARISON = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(==|!=)\s*")
_BARE = re.compile(r"[^'\"();,\s][^'\"();,]*")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.selectors: set[str] = set()
        self.uses_or = False

    def fail(self, why: str) -> ValueError:
        return ValueError(f"invalid filter at position {self.pos}: {why}")

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos : self.pos + 1]

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek():
            raise self.fail(f"unexpected {self.peek()!r}")
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ",":
            self.uses_or = True
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == ";":
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def term(self) -> Predicate:
        if self.peek() == "(":
            self.pos += 1
            inner = self.or_expr()
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.pos += 1
            return inner
        match = _COMPARISON.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected selector==value")
        selector = match.group(1).removeprefix("conversation.")
        if selector not in _SELECTORS:
            raise self.fail(f"unknown selector {match.group(1)!r}")
        self.selectors.add(selector)
        self.pos = match.end()
        value = self.value()
        negate = match.group(2) == "!="
        if "*" in value:
            # Only * is special in RSQL: escape fnmatch's other wildcards.
            pattern = value.replace("[", "[[]").replace("?", "[?]")
            return lambda row: fnmatch.fnmatchcase(row.get(selector, ""), pattern) != negate
        return lambda row: (row.get(selector) == value) != negate

    def value(self) -> str:
        quote = self.peek()
        if quote in ("'", '"'):
            out = []
            self.pos += 1
            while self.pos < len(self.text):
                char = self.text[self.pos]
                self.pos += 1
                if char == "\\" and self.pos < len(self.text):
                    out.append(self.text[self.pos])
                    self.pos += 1
                elif char == quote:
                    return "".join(out)
                else:
                    out.append(char)
            raise self.fail("unterminated quoted value")
        match = _BARE.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a value")
        self.pos = match.end()
        return match.group(0).rstrip()


def parse_filter(text: str) -> Predicate:
    """Compile an RSQL filter into a predicate over ``{"name", "id", "type"}`` rows.

    Raises:
        ValueError: for syntax this parser does not support, naming the position.
    """
    return _Parser(text).parse()


def parse_list_filter(text: str) -> Predicate:
    """Compile the ``filter`` of ``GET /v1/conversations`` under the docs' two rules:
    no OR (``,``), and at most two different fields.

    Raises:
        ValueError: for bad syntax, an OR, or more than two fields.
    """
    parser = _Parser(text)
    predicate = parser.parse()
    if parser.uses_or:
        raise ValueError("filter must not use the OR operator (',')")
    if len(parser.selectors) > 2:
        raise ValueError(
            "filter must not use more than 2 fields, got "
            + ", ".join(sorted(f"conversation.{s}" for s in parser.selectors))
        )
    return predicate
