"""Lines for the loaded records: each front-matter key's, and each Markdown block's.

The loader keeps them so that `check`, which works on the rendered email, can name the line
that caused a finding without reading the file again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from newsletter.load.frontmatter import Field
from newsletter.model import Block, KeyLines, Ref

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:\s|$)")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LIST = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s")
_TITLE = r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?"""
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?" + _TITLE + r"\s*\)")
_MD_LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?" + _TITLE + r"\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>", re.IGNORECASE)
_DEFINITION = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*<?([^\s>]+)>?")
_HTML_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_HTML_IMAGE = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\b([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)


def key_lines(fields: Mapping[str, Field]) -> KeyLines:
    """Every key's line, nested keys as "image.src", from the YAML parser's marks."""
    return KeyLines(tuple(_flatten(fields, "")))


def _flatten(fields: Mapping[str, Field], prefix: str) -> Iterator[tuple[str, int]]:
    for name, field in fields.items():
        yield prefix + name, field.line
        if field.children:
            yield from _flatten(field.children, f"{prefix}{name}.")


def markdown_blocks(body: str, first_line: int) -> tuple[Block, ...]:
    """The body split into blocks as Markdown reads them: blank lines end a block, a heading
    is a block of its own, a fenced code block runs to its closing fence."""
    blocks: list[Block] = []
    lines = body.split("\n")
    start, index = -1, 0

    def close(end: int) -> None:
        if start >= 0:
            text = "\n".join(lines[start:end])
            blocks.append(_block(text, first_line + start))

    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence and start < 0:
            end = _fence_end(lines, index, fence.group(1))
            blocks.append(Block("code", first_line + index, "\n".join(lines[index:end])))
            index = end
            continue
        if not line.strip():
            close(index)
            start = -1
        elif _ATX.match(line):
            close(index)
            blocks.append(_block(line, first_line + index))
            start = -1
        elif start < 0:
            start = index
        elif _SETEXT.match(line) and index == start + 1 and not _LIST.match(lines[start]):
            text = "\n".join(lines[start : index + 1])
            level = 1 if line.strip().startswith("=") else 2
            refs = refs_in(text, first_line + start)
            blocks.append(Block("heading", first_line + start, text, level, refs))
            start = -1
        index += 1
    close(len(lines))
    return tuple(blocks)


def _fence_end(lines: list[str], index: int, fence: str) -> int:
    """Index after the closing fence (or the end of the body when it is never closed)."""
    for end in range(index + 1, len(lines)):
        if lines[end].strip().startswith(fence[0] * len(fence)):
            return end + 1
    return len(lines)


def _block(text: str, line: int) -> Block:
    first = text.split("\n", 1)[0]
    refs = refs_in(text, line)
    atx = _ATX.match(first)
    if atx:
        return Block("heading", line, text, len(atx.group(1)), refs)
    stripped = first.lstrip()
    if _RULE.match(first):
        kind = "rule"
    elif _LIST.match(first):
        kind = "list"
    elif stripped.startswith(">"):
        kind = "quote"
    elif stripped.startswith("|"):
        kind = "table"
    elif stripped.startswith("<"):
        kind = "html"
    else:
        kind = "paragraph"
    return Block(kind, line, text, refs=refs)


def heading_text(block: Block) -> str:
    """A heading block's words, without the #s or the setext underline."""
    first = block.text.split("\n", 1)[0]
    return " ".join(re.sub(r"^\s*#{1,6}\s*|\s+#+\s*$", "", first).split())


def refs_in(text: str, first_line: int) -> tuple[Ref, ...]:
    """Links and images written on each line: Markdown, autolinks, reference definitions and
    HTML tags, in the order they appear."""
    found: list[tuple[int, int, Ref]] = []
    for number, line in enumerate(text.split("\n"), start=first_line):
        if "[" not in line and "<" not in line:
            continue
        for m in _MD_IMAGE.finditer(line):
            found.append((number, m.start(), Ref("image", number, m.group(2), m.group(1))))
        for m in _MD_LINK.finditer(line):
            found.append((number, m.start(), Ref("link", number, m.group(2), m.group(1))))
        for m in _AUTOLINK.finditer(line):
            found.append((number, m.start(), Ref("link", number, m.group(1), m.group(1))))
        definition = _DEFINITION.match(line)
        if definition:
            ref = Ref("link", number, definition.group(2), definition.group(1))
            found.append((number, definition.start(), ref))
        found += [(number, start, ref) for start, ref in _html_refs(line, number)]
    return tuple(ref for _, _, ref in sorted(found, key=lambda item: item[:2]))


def _html_refs(line: str, number: int) -> Iterator[tuple[int, Ref]]:
    for m in _HTML_LINK.finditer(line):
        href = _attributes(m.group(1)).get("href", "")
        text = " ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split())
        yield m.start(), Ref("link", number, href, text, "html")
    for m in _HTML_IMAGE.finditer(line):
        attributes = _attributes(m.group(1))
        src, alt = attributes.get("src", ""), attributes.get("alt")
        yield m.start(), Ref("image", number, src, alt or "", "html", alt=alt is not None)


def _attributes(tag: str) -> dict[str, str]:
    return {
        m.group(1).lower(): next(v for v in m.groups()[1:] if v is not None)
        for m in _ATTRIBUTE.finditer(tag)
    }
