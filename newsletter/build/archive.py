"""The web archive page and Atom feed, listing the issues present in the output folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import jinja2

from newsletter.model import Config, Issue

ATOM = "http://www.w3.org/2005/Atom"


def render_archive(issues: Sequence[Issue], /, *, config: Config, env: jinja2.Environment) -> str:
    """The archive page, newest issue first."""
    ordered = sorted(issues, key=lambda i: (i.date, i.id), reverse=True)
    template = env.get_template("archive.html")
    return template.render(
        config=config, brand=config.brand, issues=ordered, booking_url=config.booking_url
    )


def render_feed(issues: Sequence[Issue], /, *, config: Config) -> str:
    """An Atom feed, each element on its own line with two spaces a level.

    Written out directly rather than through xml.etree (whose import is a few ms of every
    build), escaped as ElementTree escapes, so no subject can break the XML;
    tests/test_build.py compares the two.
    """
    ordered = sorted(issues, key=lambda i: (i.date, i.id), reverse=True)

    def stamp(date: dt.date) -> str:
        return f"{date.isoformat()}T00:00:00Z"

    lines = [f'<feed xmlns="{ATOM}">', _leaf("title", config.title, 1)]
    if config.tagline:
        lines.append(_leaf("subtitle", config.tagline, 1))
    lines.append(_leaf("id", f"{config.base_url}/", 1))
    lines.append(_link(1, href=f"{config.base_url}/"))
    lines.append(_link(1, rel="self", href=f"{config.base_url}/feed.xml"))
    newest = stamp(ordered[0].date) if ordered else stamp(dt.date(1970, 1, 1))
    lines.append(_leaf("updated", newest, 1))
    lines += ["  <author>", _leaf("name", config.sender_name, 2), "  </author>"]
    for issue in ordered:
        url = f"{config.base_url}/issues/{issue.id}/"
        lines += ["  <entry>", _leaf("title", issue.subject, 2), _leaf("id", url, 2)]
        lines += [_link(2, href=url), _leaf("updated", stamp(issue.date), 2)]
        if issue.preheader:
            lines.append(_leaf("summary", issue.preheader, 2))
        lines.append("  </entry>")
    lines.append("</feed>")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + "\n".join(lines) + "\n"


def _leaf(tag: str, text: str, depth: int) -> str:
    """An element holding only text; an empty one is written `<tag />`, as ElementTree does."""
    pad = "  " * depth
    return f"{pad}<{tag}>{_escape_text(text)}</{tag}>" if text else f"{pad}<{tag} />"


def _link(depth: int, **attributes: str) -> str:
    written = " ".join(f'{name}="{_escape_attribute(value)}"' for name, value in attributes.items())
    return f"{'  ' * depth}<link {written} />"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    text = _escape_text(text).replace('"', "&quot;")
    return text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")
