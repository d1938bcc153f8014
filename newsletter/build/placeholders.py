"""Per-recipient fields: marked once at render time, filled per recipient, or exported as merge tags.

Each render draws a random nonce and templates write markers that carry it
(``nlph.<nonce>.<context>.<name>.``). Content is written before the nonce exists, so no article,
testimonial or entity trick can forge a placeholder: text such as ``%%first_name%%`` in content
always comes out literally. Markers are plain ASCII so that HTML serialisers leave them alone,
even inside ``href``. On disk (``email.html``, ``email.txt``) they are written in the
documented syntax ``%%name%%``.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal, NamedTuple
from urllib.parse import quote

Context = Literal["html", "url", "text"]

FIELDS: dict[str, str] = {
    "first_name": "the subscriber's first name, or the config's greeting_fallback",
    "name": "the subscriber's full name, or the greeting fallback",
    "email": "the subscriber's address",
    "unsubscribe_url": "a personal one-click unsubscribe link with a signed token",
}

SYNTAX = re.compile(r"%%([a-z_]+)%%")
"""The documented on-disk syntax."""

MERGE_TAGS: dict[str, dict[str, str]] = {
    "native": {f: f"%%{f}%%" for f in FIELDS},
    "mailchimp": {
        "first_name": "*|FNAME|*",
        "name": "*|FNAME|* *|LNAME|*",
        "email": "*|EMAIL|*",
        "unsubscribe_url": "*|UNSUB|*",
    },
    "listmonk": {
        "first_name": "{{ .Subscriber.FirstName }}",
        "name": "{{ .Subscriber.Name }}",
        "email": "{{ .Subscriber.Email }}",
        "unsubscribe_url": "{{ UnsubscribeURL }}",
    },
    "buttondown": {
        "first_name": "{{ subscriber.metadata.first_name }}",
        "name": "{{ subscriber.metadata.name }}",
        "email": "{{ subscriber.email }}",
        "unsubscribe_url": "{{ unsubscribe_url }}",
    },
}


def new_nonce() -> str:
    return secrets.token_hex(8)


def marker(name: str, context: Context, nonce: str) -> str:
    """The in-memory placeholder a template writes where a recipient's value will go."""
    if name not in FIELDS:
        raise ValueError(f"unknown placeholder {name!r}; known: {', '.join(FIELDS)}")
    return f"nlph.{nonce}.{context}.{name}."


@lru_cache(maxsize=16)
def _pattern(nonce: str) -> re.Pattern[str]:
    return re.compile(rf"nlph\.{re.escape(nonce)}\.(html|url|text)\.([a-z_]+)\.")


def _escape(value: str, context: str) -> str:
    if context == "url":
        return html.escape(quote(value, safe=""), quote=True)
    if context == "html":
        return html.escape(value, quote=True)
    return value.replace("\r", " ").replace("\n", " ")


class Compiled(NamedTuple):
    """A document split once into literal runs and fields, so filling is a join."""

    parts: tuple[str | tuple[str, str], ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(p[1] for p in self.parts if isinstance(p, tuple))

    def fill(self, values: Mapping[str, str]) -> str:
        """Substitute each field, escaped for where it stands (HTML, URL or plain text)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                context, name = part
                out.append(_escape(values[name], context))
        return "".join(out)


def compile_markers(document: str, nonce: str) -> Compiled:
    parts: list[str | tuple[str, str]] = []
    pos = 0
    for m in _pattern(nonce).finditer(document):
        parts.append(document[pos : m.start()])
        parts.append((m.group(1), m.group(2)))
        pos = m.end()
    parts.append(document[pos:])
    return Compiled(tuple(parts))


def fill(document: str, values: Mapping[str, str], nonce: str) -> str:
    return compile_markers(document, nonce).fill(values)


OPENERS: dict[str, tuple[str, ...]] = {
    "native": ("%%",),
    "mailchimp": ("*|",),
    "listmonk": ("{{",),
    "buttondown": ("{{", "{%"),
}
"""How each syntax's tags begin: in literal text these pairs are broken so they cannot be read
as a tag."""

WORD_JOINER = "\u2060"
"""Invisible and zero-width: a literal '%%' in plain text is written '%\u2060%'."""


def neutralise(document: str, style: str = "native", *, kind: Literal["html", "text"]) -> str:
    """Break every tag opener in literal text: HTML writes its second character as an entity
    (shown the same), plain text puts a word joiner between the two (shown the same)."""
    for opener in OPENERS[style]:
        first, second = re.escape(opener[0]), opener[1]
        if kind == "html":
            document = document.replace(opener, f"{opener[0]}&#{ord(second)};")
        else:
            document = re.sub(f"{first}(?={re.escape(second)})", opener[0] + WORD_JOINER, document)
    return document


def export(
    document: str,
    nonce: str,
    style: str = "native",
    *,
    escape_literal: bool | Literal["html", "text"] = False,
) -> str:
    """Write markers in a merge-tag syntax. `escape_literal` ("html" or True, or "text") first
    breaks tag-like text from content, so only the markers read as tags afterwards."""
    tags = MERGE_TAGS[style]
    if escape_literal:
        kind: Literal["html", "text"] = "text" if escape_literal == "text" else "html"
        document = neutralise(document, style, kind=kind)
    return _pattern(nonce).sub(lambda m: tags[m.group(2)], document)


def first_name(name: str) -> str:
    return name.strip().split()[0] if name.strip() else ""


def recipient_values(
    *, email: str, name: str, unsubscribe_url: str, fallback: str
) -> dict[str, str]:
    """The values for one recipient, with the greeting fallback where no name is known."""
    return {
        "email": email,
        "name": name.strip() or fallback,
        "first_name": first_name(name) or fallback,
        "unsubscribe_url": unsubscribe_url,
    }
