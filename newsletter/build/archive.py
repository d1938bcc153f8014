"""The web archive page and Atom feed, listing the issues present in the output folder."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
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
    """An Atom feed; ElementTree does the escaping, so no subject can break the XML."""
    ET.register_namespace("", ATOM)
    ordered = sorted(issues, key=lambda i: (i.date, i.id), reverse=True)

    def stamp(date: dt.date) -> str:
        return f"{date.isoformat()}T00:00:00Z"

    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = config.title
    if config.tagline:
        ET.SubElement(feed, f"{{{ATOM}}}subtitle").text = config.tagline
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{config.base_url}/"
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{config.base_url}/")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{config.base_url}/feed.xml")
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = (
        stamp(ordered[0].date) if ordered else stamp(dt.date(1970, 1, 1))
    )
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = config.sender_name
    for issue in ordered:
        url = f"{config.base_url}/issues/{issue.id}/"
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = issue.subject
        ET.SubElement(entry, f"{{{ATOM}}}id").text = url
        ET.SubElement(entry, f"{{{ATOM}}}link", href=url)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = stamp(issue.date)
        if issue.preheader:
            ET.SubElement(entry, f"{{{ATOM}}}summary").text = issue.preheader
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
