"""Plain text from a sanitised HTML fragment of the practitioner's Markdown.

The text part is composed from the same content objects as the HTML (see templates/email.txt);
this module turns one rendered Markdown fragment into wrapped text: headings marked, lists
kept, images as their alt text, links as numbered references after the fragment.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from html.parser import HTMLParser

WIDTH = 78
_BLOCKS = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "table",
    "tr",
    "hr",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
}
_VOID = {"br", "hr", "img", "wbr"}
_BR = "\x0b"  # a hard line break; plain newlines in HTML are only white space


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(fragment: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    return builder.root


class _Writer:
    def __init__(self, width: int) -> None:
        self.width = width
        self.links: list[str] = []

    # inline text of a node, with link references numbered as they appear
    def inline(self, node: Node | str) -> str:
        if isinstance(node, str):
            return node
        if node.tag == "br":
            return _BR
        if node.tag == "img":
            alt = node.attrs.get("alt", "").strip()
            return f"[Image: {alt}]" if alt else ""
        text = "".join(self.inline(child) for child in node.children)
        if node.tag == "a":
            href = node.attrs.get("href", "").strip()
            label = " ".join(text.split())
            if not href or href.startswith("#"):
                return text
            if href.startswith("mailto:"):
                address = href[len("mailto:") :].split("?")[0]
                return label if address in label else f"{label} ({address})"
            if label.rstrip("/") == href.rstrip("/"):
                return href
            if href not in self.links:
                self.links.append(href)
            return f"{text} [{self.links.index(href) + 1}]"
        if node.tag == "sup" and node.attrs.get("class") == "note-ref":
            return f"[{text}]"
        return text

    def fill(self, text: str, indent: str = "", first: str | None = None) -> str:
        lines = []
        for piece in text.split(_BR):
            words = " ".join(piece.split())
            if not words:
                continue
            lines.append(
                textwrap.fill(
                    words,
                    self.width,
                    initial_indent=first if first is not None else indent,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
            first = None
        return "\n".join(lines)

    def blocks(self, node: Node, indent: str = "") -> list[str]:
        out: list[str] = []
        inline_run: list[Node | str] = []

        def flush() -> None:
            text = "".join(self.inline(n) for n in inline_run)
            if text.strip():
                out.append(self.fill(text, indent))
            inline_run.clear()

        for child in node.children:
            if isinstance(child, str) or child.tag not in _BLOCKS:
                inline_run.append(child)
                continue
            flush()
            out.extend(self.block(child, indent))
        flush()
        return out

    def block(self, node: Node, indent: str) -> list[str]:
        tag = node.tag
        if node.attrs.get("role") == "heading":
            tag = "h6"  # a level below <h6> (see build/fragment.py)
        if node.attrs.get("class") == "code":
            tag = "pre"  # a code block, its lines joined by <br>
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            title = " ".join(self.inline(node).split())
            return [heading(title, "=" if tag in ("h1", "h2") else "-", self.width)]
        if tag in ("ul", "ol"):
            items = []
            number = int(node.attrs.get("start", "1") or 1)
            for child in node.children:
                if isinstance(child, Node) and child.tag == "li":
                    bullet = f"{number}. " if tag == "ol" else "* "
                    number += 1
                    body = self.blocks(child, indent + " " * len(bullet))
                    if body:
                        first = body[0]
                        body[0] = indent + bullet + first[len(indent) + len(bullet) :]
                    items.append("\n".join(body))
            return ["\n".join(items)] if items else []
        if tag == "blockquote":
            inner = self.blocks(node, indent)
            return ["\n".join(quote_lines(b) for b in inner)]
        if tag == "pre":
            text = "".join(self.inline(c) for c in node.children)
            text = text.replace(_BR, "\n").replace("\xa0", " ").rstrip("\n")
            return ["\n".join(indent + "    " + line for line in text.split("\n"))]
        if tag == "hr":
            return [indent + "-" * 20]
        if tag == "table":
            rows = []
            for row in _find(node, "tr"):
                cells = [
                    " ".join(self.inline(c).split())
                    for c in row.children
                    if isinstance(c, Node) and c.tag in ("td", "th")
                ]
                rows.append(self.fill(" | ".join(cells), indent))
            return ["\n".join(rows)] if rows else []
        return self.blocks(node, indent)


def _find(node: Node, tag: str) -> list[Node]:
    found = []
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == tag:
                found.append(child)
            else:
                found.extend(_find(child, tag))
    return found


def heading(title: str, mark: str = "=", width: int = WIDTH) -> str:
    """A title underlined with `mark` (setext style), wrapped to the width."""
    text = textwrap.fill(" ".join(title.split()), width, break_long_words=False)
    longest = max(len(line) for line in text.split("\n")) if text else 0
    return f"{text}\n{mark * longest}"


def quote_lines(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


def wrap(text: str, width: int = WIDTH) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(
        textwrap.fill(" ".join(p.split()), width, break_long_words=False, break_on_hyphens=False)
        for p in paragraphs
    )


def html_to_text(fragment: str, *, width: int = WIDTH) -> str:
    """Wrapped text for one fragment, its links listed as numbered references after it."""
    writer = _Writer(width)
    text = "\n\n".join(b for b in writer.blocks(parse(fragment)) if b.strip())
    if writer.links:
        refs = "\n".join(f"[{i}] {url}" for i, url in enumerate(writer.links, start=1))
        text = f"{text}\n\n{refs}"
    return text
