"""Markdown to sanitised HTML: python-markdown with the README's extensions, then nh3.

The practitioner's Markdown may carry raw HTML, which passes an email-safe allow-list; a
testimonial is a client's words pasted in, so raw HTML in it is shown as text, never parsed.
What the email then makes of the fragment (heading levels, notes, tables, code) is
newsletter/build/fragment.py's job. Both libraries are imported when first used: a render whose
Markdown was converted before takes the HTML from newsletter/build/markdowncache.py.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import markdown

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"id", "lang", "dir", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


def _extensions() -> list[markdown.Extension]:
    """Extension instances rather than names: names are looked up through package entry
    points, which costs about 20 ms per process."""
    from markdown.extensions.abbr import AbbrExtension
    from markdown.extensions.attr_list import AttrListExtension
    from markdown.extensions.def_list import DefListExtension

    # fenced_code imports codehilite, which imports Pygments when it is installed (5 ms); code
    # is never highlighted in an email, so codehilite is told there is no Pygments.
    hidden = "pygments" not in sys.modules
    if hidden:
        sys.modules["pygments"] = None  # type: ignore[assignment]
    try:
        from markdown.extensions.fenced_code import FencedCodeExtension
    finally:
        if hidden:
            del sys.modules["pygments"]
    from markdown.extensions.footnotes import FootnoteExtension
    from markdown.extensions.sane_lists import SaneListExtension
    from markdown.extensions.smarty import SmartyExtension
    from markdown.extensions.tables import TableExtension

    return [
        TableExtension(),
        FootnoteExtension(BACKLINK_TEXT="\u21a9\ufe0e"),
        FencedCodeExtension(),
        AttrListExtension(),
        SaneListExtension(),
        SmartyExtension(smart_angled_quotes=False),
        AbbrExtension(),
        DefListExtension(),
    ]


def sanitize(fragment: str) -> str:
    """Email-safe allow-list: no script, style, event handler, form or javascript: URL."""
    import nh3

    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


@lru_cache(maxsize=2)
def _markdown(trusted: bool) -> markdown.Markdown:
    import markdown

    md = markdown.Markdown(extensions=_extensions(), output_format="html")
    if not trusted:
        # Client words: raw HTML is escaped and shown as text, never parsed.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # ...and a testimonial carries no pictures: `![x](...)` stays text too.
        for pattern in ("image_link", "image_reference", "short_image_ref"):
            md.inlinePatterns.deregister(pattern)
    return md


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""C0 controls but tab and line ends: no client shows them, and XML (lxml) refuses them."""


def to_html(source: str, *, trusted: bool) -> str:
    """Sanitised HTML for a Markdown source, before the email's rewrites."""
    md = _markdown(trusted)
    md.reset()
    return sanitize(md.convert(_CONTROL.sub("", source)))
