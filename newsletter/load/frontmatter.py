"""Split a content file into YAML front matter and a Markdown body, keeping every key's line.

PyYAML is imported only to parse: a Document remembered by newsletter/load/parsed.py needs none.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from newsletter.errors import NewsletterError, Problem

if TYPE_CHECKING:
    import yaml


class Field(NamedTuple):
    value: Any
    line: int
    """Line in the file (1-based) of the key."""
    children: dict[str, Field] | None = None
    """Per-key lines when the value is a mapping."""


class Document(NamedTuple):
    path: str
    fields: dict[str, Field]
    body: str
    body_line: int
    """Line where the body starts."""
    end_line: int
    """Line of the closing fence (used for problems about missing keys)."""


def _node_fields(
    node: yaml.MappingNode, offset: int, path: str, problems: list[Problem]
) -> dict[str, Field]:
    import yaml

    from newsletter.load.yamlsafe import Refused, construct

    fields: dict[str, Field] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + offset
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(path, line, "front matter keys must be plain words"))
            continue
        key = str(key_node.value)
        if key in fields:
            problems.append(
                Problem(path, line, f"{key}: duplicate key (first on line {fields[key].line})")
            )
            continue
        children = (
            _node_fields(value_node, offset, path, problems)
            if isinstance(value_node, yaml.MappingNode)
            else None
        )
        try:
            value = construct(value_node)
        except Refused as exc:
            problems.append(Problem(path, exc.line + offset, f"{key}: {exc.message}"))
            continue
        fields[key] = Field(value, line, children)
    return fields


def _mark(exc: yaml.MarkedYAMLError) -> yaml.Mark | None:
    """Where the broken construct began (an unclosed list's own line) for an unclosed bracket or
    quote; else where the parser gave up."""
    problem = exc.problem or ""
    if exc.context_mark and ("expected ','" in problem or "end of stream" in problem):
        return exc.context_mark
    if exc.context_mark and problem == "could not find expected ':'":
        return exc.context_mark
    return exc.problem_mark or exc.context_mark


_YAML_ONLY_BREAKS = re.compile("[\x85\u2028\u2029]")
"""Line breaks to YAML but not to an editor (pasted from a web page or a word processor):
read as spaces, so YAML's line numbers stay the file's and a value is not cut in two."""


def parse_document(text: str, *, path: str) -> Document:
    """Front matter between `---` fences, then Markdown; errors name the offending line."""
    import yaml

    from newsletter.load.yamlsafe import Refused, compose, plain_reason

    if not text.strip():
        raise NewsletterError.single(
            path, "the file is empty; it needs front matter between '---' lines", 1
        )
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as read_text does
    if lines[0].strip() != "---":
        raise NewsletterError.single(
            path,
            "missing front matter: the first line must be '---', then key: value lines, then '---'",
            1,
        )
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise NewsletterError.single(
            path, "front matter is not closed: add a line '---' after it", 1
        )
    matter = [_YAML_ONLY_BREAKS.sub(" ", line) for line in lines[1:end]]
    source = "\n".join(matter)
    offset = 2  # YAML line 0 is file line 2
    try:
        node = compose(source)
    except Refused as exc:
        raise NewsletterError.single(
            path, f"front matter: {exc.message}", exc.line + offset
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = _mark(exc)
        line = mark.line + offset if mark else 1
        reason = plain_reason(exc, matter)
        raise NewsletterError.single(
            path, f"front matter is not valid YAML: {reason}", line
        ) from None
    except yaml.YAMLError as exc:
        raise NewsletterError.single(path, f"front matter is not valid YAML: {exc}", 1) from None
    if node is None:
        raise NewsletterError.single(path, "the front matter is empty", 1)
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise NewsletterError(
            [
                Problem(
                    path,
                    node.start_mark.line + offset,
                    f"front matter must be key: value pairs, got {kind}",
                )
            ]
        )
    problems: list[Problem] = []
    fields = _node_fields(node, offset, path, problems)
    if problems:
        raise NewsletterError(problems)
    body = "\n".join(lines[end + 1 :])
    return Document(path, fields, body, end + 2, end + 1)
