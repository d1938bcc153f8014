"""YAML for front matter, refusing what a content file never needs and a hostile one abuses.

Aliases are refused outright (a few hundred bytes of anchors can expand to gigabytes), nesting is
bounded (deep nesting exhausts the recursive composer), and every constructor error becomes a
user mistake. Parser messages are put into plain words with the fix for the common slips.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

MAX_DEPTH = 20
"""Front matter needs three levels at most (image: src:); deeper is a mistake or an attack."""


class Refused(Exception):
    """Front matter that is valid YAML but not accepted here; `line` is 0-based in the YAML."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader that composes no alias and no node deeper than MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            raise Refused(
                event.start_mark.line,
                f"'*{event.anchor}' is a YAML alias, and aliases are not accepted in front "
                "matter: write the value out in full",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise Refused(
                    mark.line,
                    f"values nested more than {MAX_DEPTH} levels deep are not accepted: "
                    "front matter needs at most a list or a few keys under a key",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _timestamp(constructor: Any, node: yaml.ScalarNode) -> Any:
    """A date-looking value that is no real date (2026-02-30) stays text for the date check."""
    try:
        return SafeConstructor.construct_yaml_timestamp(constructor, node)
    except (ValueError, OverflowError):
        return str(node.value)


class _Constructor(SafeConstructor):
    pass


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def compose(source: str) -> yaml.Node | None:
    """The node tree of `source`; raises yaml.YAMLError or Refused."""
    loader = _Loader(source)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def construct(node: yaml.Node) -> Any:
    """The Python value of a node; raises Refused for values Python cannot hold."""
    try:
        return _Constructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or "unsupported YAML"
        raise Refused(node.start_mark.line, str(reason)) from None
    except (ValueError, OverflowError, RecursionError, TypeError):
        raise Refused(
            node.start_mark.line, "this value cannot be read; put it in quotes to keep it as text"
        ) from None


def plain_reason(exc: yaml.MarkedYAMLError, lines: list[str]) -> str:
    """The parser's complaint in plain words, with the fix for the common slips."""
    problem = exc.problem or ""
    mark = exc.problem_mark
    line = lines[mark.line] if mark and mark.line < len(lines) else ""
    if "'\\t'" in problem:
        return "a tab character: indent front matter with spaces, not tabs"
    if problem == "mapping values are not allowed here":
        return _colon_reason(line)
    if problem == "could not find expected ':'":
        context = exc.context_mark
        previous = lines[context.line] if context and context.line < len(lines) else line
        for text in (line, previous):
            item = re.match(r"\s*-(?=[^\s-])(.*)", text)
            if item:
                return f"a list item needs a space after '-': write '- {item.group(1).strip()}'"
        return "a line is not 'key: value': add ': ' after the key, or quote a value that goes on"
    if "cannot start any token" in problem:
        char = re.search(r"character '(.+?)'", problem)
        what = char.group(1) if char else "this character"
        return f"a value cannot start with '{what}': put the whole value in quotes"
    if "scanning a quoted scalar" in (exc.context or ""):
        return "a quote is not closed: add the closing quote at the end of the value"
    if "expected ',' or" in problem and "<stream end>" in problem:
        closing = "]" if "']'" in problem else "}"
        return (
            f"a list in brackets is not closed: add the closing '{closing}' at the end of the line"
        )
    if "expected ',' or" in problem:
        return (
            "a [list] or {mapping} is not closed or holds a stray ':': write it on one line as "
            "[a, b], quote items that contain ': ', or use one '- item' line each"
        )
    return problem or "invalid YAML"


def _colon_reason(line: str) -> str:
    key, _, value = line.strip().partition(": ")
    if line[:1].isspace() and ": " not in value:
        return (
            "this line is indented as if it belonged to the line above: remove the spaces at "
            "its start, or put the value above in quotes"
        )
    if value:
        example = value.replace('"', '\\"')
        return (
            f"the value contains ': ' (a colon and a space): put it in quotes, e.g. "
            f'{key}: "{example}"'
        )
    return "a ':' is in the wrong place: each line is 'key: value'; quote a value with ': ' in it"


def real_date_reason(text: str) -> str | None:
    """Why a YYYY-MM-DD-looking text is no date, with a real example; None if it is no such text."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text.strip())
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not 1 <= year <= 9998:
        return f"the year {year} is out of range, e.g. 2026-12-01"
    if not 1 <= month <= 12:
        return f"there is no month {month} (01 to 12), e.g. {year}-12-01"
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = (next_month - dt.timedelta(days=1)).day
    name = dt.date(year, month, 1).strftime("%B")
    return f"{name} {year} has {last} days, e.g. {year}-{month:02d}-{min(max(day, 1), last):02d}"
