"""Finish links: absolute URLs, images under the issue's web folder, UTM tags on own sites."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_ATTR = re.compile(r'\b(href|src)="([^"]*)"')
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


def finish_links(
    document: str,
    /,
    *,
    base_url: str,
    issue_id: str,
    hosts: Iterable[str],
    utm: bool = True,
    medium: str = "email",
) -> tuple[str, tuple[str, ...]]:
    """Rewrite every href and src; return the document and the local images it references."""
    site = base_url.rstrip("/") + "/"
    image_base = f"{site}issues/{issue_id}/images/"
    host_set = frozenset(hosts)
    images: list[str] = []

    def fix(m: re.Match[str]) -> str:
        attr, raw = m.group(1), m.group(2)
        if raw.startswith("nlph."):
            return m.group(0)  # a placeholder marker, filled per recipient
        url = html.unescape(raw).strip()
        if not url or url.startswith("#"):
            return m.group(0)
        scheme = urlsplit(url).scheme
        if attr == "src" and not scheme:
            name = url.removeprefix("/").removeprefix("images/")
            if name not in images:
                images.append(name)
            url = image_base + name
        elif not scheme:
            url = urljoin(site, url)
        elif scheme not in ("http", "https"):
            return m.group(0)
        if attr == "href" and utm:
            url = add_utm(url, campaign=issue_id, hosts=host_set, medium=medium)
        return f'{attr}="{html.escape(url, quote=True)}"'

    return _ATTR.sub(fix, document), tuple(images)
