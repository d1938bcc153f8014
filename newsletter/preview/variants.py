"""The email as subscribers' clients change it: dark mode, Gmail's inversion, images off.

Pure string work on the filled email document; each variant is served to a sandboxed iframe.
"""

from __future__ import annotations

import html
import re

from newsletter.model import Config

MODES = ("light", "dark", "inverted", "images-off")
"""Variants of the email document; each is a page of its own in a sandboxed iframe."""

_SCHEME_FEATURE = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.IGNORECASE)
_ALWAYS = "(min-width: 0px)"
_NEVER = "(max-width: 0px)"
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC_ATTR = re.compile(r"\s(?:src|srcset)\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_BACKGROUND_ATTR = re.compile(r"\sbackground\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_BACKGROUND_IMAGE = re.compile(r"background-image\s*:\s*url\([^)]*\)\s*;?", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
INVERT_CSS = (
    # Gmail's apps invert light emails that don't opt out: light backgrounds turn dark, dark
    # text turns light, hues roughly kept. Images are left alone, so they are inverted back.
    "html{filter:invert(1) hue-rotate(180deg)!important}"
    "img,picture,video,[background],[style*='background-image']"
    "{filter:invert(1) hue-rotate(180deg)!important}"
)


def force_scheme(document: str, scheme: str) -> str:
    """Make `prefers-color-scheme` media features answer for `scheme`, whatever the OS says."""

    def answer(m: re.Match[str]) -> str:
        return _ALWAYS if m.group(1).lower() == scheme else _NEVER

    return _SCHEME_FEATURE.sub(answer, document)


def strip_images(document: str) -> str:
    """What a client with images blocked loads: no image source, only alt text and boxes."""
    document = _IMG.sub(lambda m: _SRC_ATTR.sub("", m.group(0)), document)
    document = _BACKGROUND_ATTR.sub("", document)
    return _BACKGROUND_IMAGE.sub("", document)


def email_document(document: str, mode: str) -> str:
    """One variant of the filled email, for a sandboxed iframe in the preview page."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    scheme = "dark" if mode == "dark" else "light"
    document = force_scheme(document, scheme)
    css = [f":root{{color-scheme:{scheme}!important}}"]
    if mode == "inverted":
        css.append(INVERT_CSS)
    if mode == "images-off":
        document = strip_images(document)
    # Links open in a new tab: the frame is sandboxed without scripts and keeps the preview.
    extra = f'<base target="_blank"><style data-preview="{mode}">{"".join(css)}</style>'
    match = _HEAD_END.search(document)
    if match is None:
        return extra + document
    return document[: match.start()] + extra + document[match.start() :]


def local_images(document: str, *, config: Config, issue_id: str) -> str:
    """Point the published image URLs at content/images/, so images show before upload."""
    return document.replace(f"{config.base_url}/issues/{issue_id}/images/", "/images/")


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u034f\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_COLLAPSIBLE = re.compile(r"[ \t\r\n\f]+")


def inbox_text(document: str, limit: int = 200) -> str:
    """The start of the body's text as inboxes pick it for the preview line (hidden text too).

    No-break spaces are kept, as inboxes keep them: that is how the preheader's filler pushes
    the body's first words out of the preview.
    """
    body = re.split(r"<body\b[^>]*>", document, maxsplit=1, flags=re.IGNORECASE)[-1]
    body = re.sub(r"<(style|script|title)\b.*?</\1\s*>", " ", body, flags=re.S | re.I)
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body)).translate(_ZERO_WIDTH)
    return _COLLAPSIBLE.sub(" ", text).strip(" ")[:limit].replace("\u00a0", " ").rstrip()


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis, as an inbox line ends."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
