"""What the email makes of a sanitised Markdown fragment, on its lxml tree.

Each step exists because a mail client needs it: headings shifted under the article title
without two levels collapsing into one; footnotes as plain numbered notes (Gmail's apps and
Samsung Email drop in-document #anchor links, so there are no anchors and no ids); tables and
code that wrap or scroll inside their own box (clients ignore `white-space: pre-wrap`, so code
lines are explicit `<br>`s with non-breaking indentation); images sized for Outlook; links
finished. Classes are added here, after sanitising: content itself can set none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import lxml.html
from lxml import etree

from newsletter.build.links import LinkFinisher
from newsletter.load.images import display_size

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
DEEPEST_TAG = 6
"""HTML stops at <h6>; deeper levels become <p role="heading" aria-level="7"> and so on."""


def rewrite(
    fragment: str,
    /,
    *,
    heading_base: int,
    sizes: Mapping[str, tuple[int, int]],
    links: LinkFinisher | None = None,
) -> str:
    """The fragment as the email shows it (see the module docstring for each step)."""
    if not fragment.strip():
        return fragment
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    shift_headings(root, heading_base)
    plain_notes(root)
    wrap_tables(root)
    code_blocks(root)
    size_images(root, sizes)
    if links is not None:
        links.finish(root)
    out: str = lxml.html.tostring(root, encoding="unicode")
    return out[len("<div>") : -len("</div>")]


def heading_level(element: etree._Element) -> int:
    """1-6 for <h1>-<h6>, the aria-level of a deeper heading, 0 for anything else."""
    if element.tag in HEADINGS:
        return int(element.tag[1])
    if element.get("role") == "heading":
        return int(element.get("aria-level") or 0)
    return 0


def shift_headings(root: etree._Element, base: int) -> None:
    """Move headings down so the highest is `base`, keeping every level distinct."""
    headings = [e for e in root.iter(*HEADINGS)]
    if not headings:
        return
    delta = max(0, base - min(heading_level(h) for h in headings))
    for heading in headings:
        level = heading_level(heading) + delta
        if level <= DEEPEST_TAG:
            heading.tag = f"h{level}"
        else:
            heading.tag = "p"
            heading.set("role", "heading")
            heading.set("aria-level", str(level))
            heading.set("class", f"h{level}")


def plain_notes(root: lxml.html.HtmlElement) -> None:
    """Footnotes as numbered notes; no anchor link, back link or id survives."""
    for sup in root.iter("sup"):
        if (sup.get("id") or "").startswith("fnref"):
            sup.set("class", "note-ref")
    for item in root.iter("li"):
        if (item.get("id") or "").startswith("fn:"):
            notes = item.getparent()
            if notes is not None and notes.tag == "ol":
                notes.set("class", "notes")
    for link in [a for a in root.iter("a") if isinstance(a, lxml.html.HtmlElement)]:
        href = link.get("href") or ""
        if href.startswith("#fnref"):
            _drop_with_space(link)
        elif href.startswith("#"):
            link.drop_tag()
    for element in root.iter():
        if "id" in element.attrib:
            del element.attrib["id"]


def _drop_with_space(element: lxml.html.HtmlElement) -> None:
    """Remove a back link and the non-breaking space python-markdown puts before it."""
    previous = element.getprevious()
    parent = element.getparent()
    if previous is not None:
        previous.tail = (previous.tail or "").rstrip("\xa0 ")
    elif parent is not None:
        parent.text = (parent.text or "").rstrip("\xa0 ")
    element.drop_tree()


def wrap_tables(root: etree._Element) -> None:
    """Data tables take the card's width and scroll inside their own box when they must."""
    for table in list(root.iter("table")):
        table.set("class", "md")
        for cell in table.iter("td", "th"):
            cell.set("class", "md")
        parent = table.getparent()
        if parent is None:
            continue
        box = etree.Element("div", {"class": "table-wrap"})
        box.tail, table.tail = table.tail, None
        parent.replace(table, box)
        box.append(table)


def code_blocks(root: etree._Element) -> None:
    """<pre> into lines joined by <br>, indentation kept with non-breaking spaces."""
    for pre in list(root.iter("pre")):
        text = "".join(str(t) for t in pre.itertext()).rstrip("\n")
        box = etree.Element("div", {"class": "code"})
        code = etree.SubElement(box, "code")
        lines = text.split("\n")
        code.text = _code_line(lines[0])
        for line in lines[1:]:
            br = etree.SubElement(code, "br")
            br.tail = _code_line(line)
        box.tail = pre.tail
        parent = pre.getparent()
        if parent is not None:
            parent.replace(pre, box)


def _code_line(line: str) -> str:
    """Leading and repeated spaces kept (non-breaking) while single spaces may still wrap."""
    line = line.replace("\t", "    ")
    indent = len(line) - len(line.lstrip(" "))
    body = re.sub(r" {2,}", lambda m: "\xa0" * (len(m.group(0)) - 1) + " ", line[indent:])
    return "\xa0" * indent + body if (indent or body) else "\xa0"


def size_images(root: etree._Element, sizes: Mapping[str, tuple[int, int]]) -> None:
    """Width and height attributes (Outlook needs them), never wider than the card."""
    for img in root.iter("img"):
        src = img.get("src") or ""
        width, height = _int(img.get("width")), _int(img.get("height"))
        if width is None and src in sizes:
            width, height = sizes[src]
        if width is not None:
            if height is not None:
                width, height = display_size(width, height)
            else:
                width = min(width, display_size(width, 1)[0])
            img.attrib.pop("width", "")
            img.attrib.pop("height", "")
            img.set("width", str(width))
            if height is not None:
                img.set("height", str(height))
        img.set("style", "max-width:100%;height:auto;border:0;")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None
