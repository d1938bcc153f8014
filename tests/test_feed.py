"""The Atom feed, written out directly, is byte for byte what ElementTree writes for it; the
reported gzipped size is what gzip makes."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.build.archive import ATOM, render_feed
from newsletter.model import Config, Issue

BASE = Config(
    title="Notes from the Table",
    sender_name="Dustin",
    sender_email="d@example.org",
    postal_address="1 Main St",
    booking_url="https://book.example.org/",
    base_url="https://news.example.org",
    disclaimer="",
    reason="",
    list_id="news.example.org",
)


def through_elementtree(issues: Sequence[Issue], config: Config) -> str:
    """How the feed was made before: ElementTree, indented, serialised as text."""
    ET.register_namespace("", ATOM)
    ordered = sorted(issues, key=lambda i: (i.date, i.id), reverse=True)

    def stamp(date: dt.date) -> str:
        return f"{date.isoformat()}T00:00:00Z"

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", **attrib)
        element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", config.title)
    if config.tagline:
        sub(feed, "subtitle", config.tagline)
    sub(feed, "id", f"{config.base_url}/")
    sub(feed, "link", href=f"{config.base_url}/")
    sub(feed, "link", rel="self", href=f"{config.base_url}/feed.xml")
    sub(feed, "updated", stamp(ordered[0].date) if ordered else stamp(dt.date(1970, 1, 1)))
    sub(sub(feed, "author"), "name", config.sender_name)
    for issue in ordered:
        url = f"{config.base_url}/issues/{issue.id}/"
        entry = sub(feed, "entry")
        sub(entry, "title", issue.subject)
        sub(entry, "id", url)
        sub(entry, "link", href=url)
        sub(entry, "updated", stamp(issue.date))
        if issue.preheader:
            sub(entry, "summary", issue.preheader)
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


TEXT = st.one_of(
    st.sampled_from(["", " ", "a & b", "<b>x</b>", 'say "hi"', "tab\there", "l1\nl2", "\r"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
)


@st.composite
def issues(draw: st.DrawFn) -> Issue:
    return Issue(
        id=draw(st.from_regex(r"20[0-9]{2}-[0-9]{2}", fullmatch=True)),
        path="content/issues/x.md",
        subject=draw(TEXT),
        preheader=draw(TEXT),
        date=draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))),
        intro="",
        intro_line=1,
        articles=(),
        testimonials=(),
    )


@settings(max_examples=200, deadline=None)
@given(
    listed=st.lists(issues(), max_size=4),
    title=TEXT,
    tagline=TEXT,
    sender=TEXT,
    base=st.sampled_from(["https://news.example.org", 'https://x.example/a"b&c<d>\te\nf\rg']),
)
def test_the_feed_is_what_elementtree_writes(
    listed: list[Issue], title: str, tagline: str, sender: str, base: str
) -> None:
    config = BASE._replace(title=title, tagline=tagline, sender_name=sender, base_url=base)
    assert render_feed(listed, config=config) == through_elementtree(listed, config)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_the_gzipped_size_is_what_gzip_makes(data: bytes) -> None:
    import gzip

    from newsletter.build.pipeline import gzipped_size

    assert gzipped_size(data) == len(gzip.compress(data, 9))
