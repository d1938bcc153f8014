"""Finish links: absolute URLs, images under the issue's web folder, UTM tags on own sites."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree

UTM = ("utm_source", "utm_medium", "utm_campaign")


def own_hosts(*urls: str) -> frozenset[str]:
    return frozenset(urlsplit(u).hostname or "" for u in urls if u) - {""}


def add_utm(url: str, *, campaign: str, hosts: Iterable[str], medium: str = "email") -> str:
    """UTM parameters on links to the practitioner's own sites; existing ones are kept."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in hosts:
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    wanted = {"utm_source": "newsletter", "utm_medium": medium, "utm_campaign": campaign}
    query += [(k, v) for k, v in wanted.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


@dataclass
class LinkFinisher:
    """Rewrites the href and src of a parsed fragment and remembers the local images used."""

    base_url: str
    issue_id: str
    hosts: frozenset[str]
    utm: bool = True
    medium: str = "email"
    images: list[str] = field(default_factory=list)

    def url(self, attr: str, raw: str) -> str:
        """The finished value of one href or src attribute (already unescaped by the parser)."""
        url = raw.strip()
        if url.startswith("nlph.") or not url or url.startswith("#"):
            return raw  # a placeholder marker (filled per recipient) or an in-page anchor
        site = self.base_url.rstrip("/") + "/"
        scheme = urlsplit(url).scheme
        if attr == "src" and not scheme:
            name = url.removeprefix("/").removeprefix("images/")
            if name not in self.images:
                self.images.append(name)
            url = f"{site}issues/{self.issue_id}/images/{name}"
        elif not scheme:
            url = urljoin(site, url)
        elif scheme not in ("http", "https"):
            return raw
        if attr == "href" and self.utm:
            url = add_utm(url, campaign=self.issue_id, hosts=self.hosts, medium=self.medium)
        return url

    def finish(self, root: etree._Element) -> None:
        """Every link and image under `root`, in place."""
        for element in root.iter("a", "img"):
            attr = "href" if element.tag == "a" else "src"
            value = element.get(attr)
            if value is not None:
                element.set(attr, self.url(attr, value))
