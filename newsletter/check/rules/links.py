"""Link rules: malformed, relative, insecure and vague links, the booking link, and (opt-in)
whether each URL answers at all."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree

from newsletter.build.links import UTM, own_hosts
from newsletter.check.base import ERROR, WARNING, Email, Finding, normalise, visible_text
from newsletter.check.rules import online_rule, rule
from newsletter.check.rules.images import image_site
from newsletter.workspace import CONFIG_NAME

VAGUE = {
    "click",
    "click here",
    "continue",
    "details",
    "go",
    "here",
    "info",
    "learn more",
    "link",
    "more",
    "more info",
    "read more",
    "read on",
    "this",
    "this link",
}
"""Link texts that mean nothing alone: screen-reader users often list a page's links."""
SHORTENERS = {
    "bit.ly",
    "buff.ly",
    "cutt.ly",
    "goo.gl",
    "is.gd",
    "lnkd.in",
    "ow.ly",
    "rebrand.ly",
    "shorturl.at",
    "t.co",
    "t.ly",
    "tiny.cc",
    "tinyurl.com",
}
"""Spam filters distrust shortened links: spammers hide their domains behind them."""
SCHEMES = {"http", "https", "mailto", "tel", "sms"}
_HOST = re.compile(r"^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)$")
_MAILTO = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TIMEOUT = 10.0


@rule
def _links(email: Email) -> list[Finding]:
    """Each link's address and its text."""
    out: list[Finding] = []
    hosts = own_hosts(email.config.base_url, email.config.booking_url, email.config.unsubscribe_url)
    for a in email.elements("a"):
        href = a.get("href")
        if href is None:
            continue
        out.extend(_href(email, a, href.strip(), hosts))
        out.extend(_text(email, a, href.strip()))
    return out


def strip_utm(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


def where_link(email: Email, a: etree._Element, href: str) -> tuple[str, int]:
    """The content line that wrote this link (found by its address, else by its text), else
    the link's line in the output."""
    clean = strip_utm(href).rstrip("/") if href else ""
    for path, ref in email.links:
        if clean and ref.target.strip().rstrip("/") == clean:
            return path, ref.line
    text = _words(visible_text(a))
    for path, ref in email.links:
        if text and _words(ref.text) == text:
            return path, ref.line
    return email.at(a)


def _words(text: str) -> str:
    """Link text as a reader sees it: no Markdown emphasis, typography undone, lower case."""
    return " ".join(normalise(re.sub(r"[*_`]", "", text)).lower().split())


class _Problem(NamedTuple):
    rule: str
    severity: str
    message: str
    fix: str


def _href(email: Email, a: etree._Element, href: str, hosts: frozenset[str]) -> list[Finding]:
    """What is wrong with one link's address: its form first, then where it points."""
    if href.startswith("#"):
        return []
    problem = _malformed(href, email.config.base_url)
    problems = [problem] if problem else _destination(href, hosts)
    if not problems:
        return []
    where = where_link(email, a, href)
    return [email.finding(p.rule, p.severity, where, p.message, p.fix) for p in problems]


def _malformed(href: str, base_url: str) -> _Problem | None:
    """A link no client can follow: empty, javascript:, a bad mailto, relative, unparsable."""
    if not href:
        return _Problem(
            "link-malformed",
            ERROR,
            "a link has an empty address",
            "give the link its full https:// address, or remove it",
        )
    parts = urlsplit(href)
    scheme = parts.scheme.lower()
    if scheme == "javascript":
        return _Problem(
            "link-javascript",
            ERROR,
            "a javascript: link; mail clients strip it and spam filters flag it",
            "link to a web page instead",
        )
    if scheme == "mailto":
        return _mailto(href, parts.path.strip())
    if not scheme:
        return _Problem(
            "link-relative",
            ERROR,
            f"relative link {href!r} cannot work in an inbox (there is no page to be relative to)",
            f"write the full address, e.g. {base_url}/{href.lstrip('/')}",
        )
    return _unparsable(href, parts)


def _mailto(href: str, address: str) -> _Problem | None:
    if address and _MAILTO.match(address):
        return None
    return _Problem(
        "link-mailto",
        ERROR,
        f"mailto link {href!r} has no valid address",
        "write it as mailto:name@example.com",
    )


def _unparsable(href: str, parts: SplitResult) -> _Problem | None:
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or (scheme in ("http", "https") and not _valid_host(parts)):
        return _Problem(
            "link-malformed",
            ERROR,
            f"malformed link {href!r}",
            "check the address: it should look like https://example.com/page",
        )
    if " " in href:
        return _Problem(
            "link-malformed",
            ERROR,
            f"link {href!r} contains a space",
            "remove the space or write it as %20",
        )
    return None


def _destination(href: str, hosts: frozenset[str]) -> list[_Problem]:
    """A well-formed link that points somewhere it should not: own site over http, a shortener."""
    parts = urlsplit(href)
    if parts.scheme.lower() == "mailto":
        return []
    host = (parts.hostname or "").lower()
    out = []
    if parts.scheme.lower() == "http" and host in hosts:
        out.append(
            _Problem(
                "link-http-own",
                ERROR,
                f"link to your own site uses http: ({href!r}); browsers warn and tracking is lost",
                "use https:// for your own sites",
            )
        )
    if host in SHORTENERS or host.removeprefix("www.") in SHORTENERS:
        out.append(
            _Problem(
                "link-shortener",
                WARNING,
                f"shortened link {href!r}; spam filters distrust link shorteners",
                "link to the full address instead",
            )
        )
    return out


def _valid_host(parts: SplitResult) -> bool:
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    return bool(_HOST.match(host.lower()))


def _text(email: Email, a: etree._Element, href: str) -> list[Finding]:
    text = visible_text(a)
    alts = " ".join((img.get("alt") or "") for img in a.iter("img")).strip()
    label = " ".join(f"{text} {alts} {a.get('aria-label') or ''}".split())
    if not label:
        return [
            email.finding(
                "link-empty-text",
                ERROR,
                where_link(email, a, href),
                f"a link to {href!r} has no text; screen readers announce only 'link'",
                "give the link words that say where it goes",
            )
        ]
    plain = re.sub(r"[^\w\s]", "", label.lower()).strip()
    if plain in VAGUE:
        return [
            email.finding(
                "link-text",
                WARNING,
                where_link(email, a, href),
                f"link text '{label}' means nothing on its own",
                "say where the link goes: [Read the NIH guide to restless legs](https://...)",
            )
        ]
    return []


@rule
def _booking(email: Email) -> list[Finding]:
    url = email.config.booking_url
    where = email.in_templates("booking_url") or (email.output, 0)
    config_where = (CONFIG_NAME, email.config.lines.get("booking.url"))
    if urlsplit(url).scheme != "https":
        return [
            email.finding(
                "booking-url",
                ERROR,
                config_where,
                f"the booking URL {url!r} is not HTTPS; browsers warn readers about to book",
                "set [booking] url to the https:// address of your booking page",
            )
        ]
    host = urlsplit(url).hostname
    for a in email.elements("a"):
        href = a.get("href") or ""
        if (href and strip_utm(href).rstrip("/") == url.rstrip("/")) or (
            urlsplit(href).hostname == host and urlsplit(href).path == urlsplit(url).path
        ):
            return []
    return [
        email.finding(
            "booking-url",
            ERROR,
            where,
            "the email has no link to the booking page",
            "keep the booking button (partials/button.html) in the template",
        )
    ]


# --- online (opt-in) ------------------------------------------------------------------------


def probe(url: str, timeout: float = TIMEOUT) -> tuple[str, str]:
    """("ok" | "broken" | "slow", detail): HEAD first, GET when the server refuses HEAD."""
    headers = {"User-Agent": "newsletter-check/1 (link check before sending)"}
    detail = ""
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if method == "GET":
                    response.read(1024)
                return "ok", str(response.status)
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code} {exc.reason}"
            if method == "HEAD" and exc.code in (400, 403, 405, 406, 429, 500, 501, 503):
                continue
            return "broken", detail
        except TimeoutError:
            return "slow", f"no answer within {timeout:.0f} s"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return "slow", f"no answer within {timeout:.0f} s"
            return "broken", str(exc.reason)
        except (OSError, ValueError) as exc:
            return "broken", str(exc)
    return "broken", detail


@online_rule
def _answers(email: Email) -> list[Finding]:
    """`check --links`: every link and image URL asked once."""
    return check_online(email)


def check_online(email: Email, *, timeout: float = TIMEOUT, workers: int = 8) -> list[Finding]:
    """Each unique http(s) URL asked once, in parallel; personal links (tokens) are skipped."""
    personal = [v for v in email.values.values() if len(v) > 8]
    targets: dict[str, etree._Element] = {}
    for element in email.elements():
        url = element.get("href") if element.tag == "a" else element.get("src")
        if element.tag not in ("a", "img") or not url:
            continue
        if urlsplit(url).scheme not in ("http", "https") or any(v in url for v in personal):
            continue
        targets.setdefault(url, element)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
        results = dict(zip(targets, pool.map(lambda u: probe(u, timeout), targets), strict=True))
    out = []
    for url, (status, detail) in results.items():
        if status == "ok":
            continue
        element = targets[url]
        where = (
            where_link(email, element, url)
            if element.tag == "a"
            else image_site(email, element, url)[0]
        )
        severity = ERROR if status == "broken" else WARNING
        out.append(
            email.finding(
                "link-dead",
                severity,
                where,
                f"{strip_utm(url)} does not answer: {detail}",
                "open it in a browser; correct the address or remove the link",
            )
        )
    return out
