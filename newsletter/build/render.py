"""Markdown and Jinja2: an Issue becomes the email's HTML and plain text, once per issue.

Autoescape is on for HTML templates and StrictUndefined everywhere. Markdown is turned into
sanitised HTML by build/markdown.py and shaped for mail clients by build/fragment.py.
"""

from __future__ import annotations

import html
import math
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from newsletter.build import textify
from newsletter.build.cache import cache_folder
from newsletter.build.links import LinkFinisher, add_utm, own_hosts
from newsletter.build.markdown import sanitize
from newsletter.build.markdowncache import MarkdownCache
from newsletter.build.placeholders import marker, new_nonce
from newsletter.errors import NewsletterError, Problem
from newsletter.model import Article, Config, Issue, Testimonial

__all__ = ["Draft", "make_env", "markdown_to_html", "render_issue", "sanitize"]


PREHEADER_LENGTH = 200
FILLER = "&#847;&zwnj;"
"""Combining grapheme joiner and zero-width non-joiner: they fill the inbox preview after the
preheader, and text-mode views that ignore CSS print nothing for them."""


def markdown_to_html(source: str, *, trusted: bool, heading_base: int = 3) -> str:
    """Sanitised HTML for a Markdown source as the email shows it (links not yet finished)."""
    from newsletter.build.fragment import rewrite

    cache = MarkdownCache()
    html_ = cache.to_html(source, trusted=trusted)
    cache.save()
    return rewrite(html_, heading_base=heading_base, sizes={})


def address_html(address: str) -> str:
    """Postal address that Apple Mail and Gmail won't turn into a blue map link."""
    escaped = html.escape(address)
    return re.sub(r"(\d)(?=\d)", lambda m: m.group(1) + "&zwnj;", escaped, count=0)


def minify_css(css: str) -> str:
    """Comments and spacing out of the kept <style> block: it counts toward Gmail's limits."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{};:,])\s*", r"\1", css)
    return css.replace(";}", "}").strip()


class Draft(NamedTuple):
    """Rendered, links finished, not yet inlined."""

    html: str
    text: str
    web_html: str
    images: tuple[str, ...]
    """Names under content/images/ that the email references."""
    nonce: str


@dataclass
class _Links:
    """Finishes every fragment's links the same way and remembers the local images used."""

    config: Config
    issue_id: str
    images: list[str]
    markdown: MarkdownCache

    def finisher(self) -> LinkFinisher:
        hosts = own_hosts(self.config.base_url, self.config.booking_url)
        return LinkFinisher(
            self.config.base_url, self.issue_id, hosts, utm=self.config.utm, images=self.images
        )

    def fragment(
        self, source: str, *, trusted: bool, heading_base: int, sizes: Mapping[str, tuple[int, int]]
    ) -> str:
        """Markdown into the email's HTML, links finished."""
        return self.markdown.finished(
            source, trusted=trusted, heading_base=heading_base, sizes=sizes, links=self.finisher()
        )

    def url(self, url: str) -> str:
        if not self.config.utm:
            return url
        hosts = own_hosts(self.config.base_url, self.config.booking_url)
        return add_utm(url, campaign=self.issue_id, hosts=hosts)

    def image(self, src: str) -> str:
        if "://" in src:
            return src
        if src not in self.images:
            self.images.append(src)
        return f"{self.config.base_url}/issues/{self.issue_id}/images/{src}"


# --- Jinja ----------------------------------------------------------------------------------


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith(".html")  # type: ignore[union-attr]


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    folder = cache_folder("templates")
    return jinja2.FileSystemBytecodeCache(str(folder)) if folder else None


def make_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
        # Compiled templates are cached per user (keyed by source checksum): a cold build
        # skips about 60 ms of template compilation.
        bytecode_cache=_bytecode_cache(),
    )
    env.filters["wrap"] = textify.wrap
    env.filters["heading"] = lambda text, mark="=": textify.heading(str(text), mark)
    env.filters["quote"] = textify.quote_lines
    return env


def template_problem(exc: BaseException, templates: Path) -> Problem:
    """Where a template error happened, as templates/<name>:<line>."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        name = exc.filename or exc.name or "templates"
        return Problem(
            _template_rel(name, templates), exc.lineno or 0, f"template error: {exc.message}"
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        return Problem(f"templates/{exc.name}", 0, "template not found")
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename and Path(frame.filename).suffix in (".html", ".txt", ".css"):
            return Problem(
                _template_rel(frame.filename, templates),
                frame.lineno or 0,
                f"template error: {exc}",
            )
    return Problem("templates", 0, f"template error: {exc}")


def _template_rel(name: str, templates: Path) -> str:
    path = Path(name)
    try:
        return "templates/" + path.resolve().relative_to(templates.resolve()).as_posix()
    except ValueError:
        return name if name.startswith("templates/") else f"templates/{name}"


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any], templates: Path) -> str:
    try:
        return env.get_template(name).render(context)
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise NewsletterError([template_problem(exc, templates)]) from None


# --- the stage ------------------------------------------------------------------------------


def _article_context(
    article: Article,
    *,
    links: _Links,
    sizes: Mapping[str, tuple[int, int]],
    cta_label: str,
    button: bool,
) -> dict[str, Any]:
    body = links.fragment(article.body, trusted=True, heading_base=3, sizes=sizes)
    image = None
    if article.image is not None:
        url = links.image(article.image.src)
        image = {
            "url": url,
            "alt": article.image.alt,
            "width": article.image.width,
            "height": article.image.height,
        }
    lead = article.cta if article.cta not in ("", "default", cta_label) else ""
    return {
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "html": Markup(body),
        "text": links.markdown.text(body),
        "image": image,
        "button": bool(article.cta) and button,
        "cta_lead": lead,
    }


def _testimonial_context(testimonial: Testimonial, links: _Links) -> dict[str, Any]:
    body = links.fragment(testimonial.body, trusted=False, heading_base=4, sizes={})
    return {
        "author": testimonial.author,
        "service": testimonial.service,
        "html": Markup(body),
        "text": links.markdown.text(body, width=textify.WIDTH - 2),  # quoted with "> "
    }


def _articles(
    issue: Issue, *, links: _Links, sizes: Mapping[str, tuple[int, int]], cta_label: str
) -> list[dict[str, Any]]:
    """Article contexts. The last article's button would stand just above the closing one
    (with only testimonials between), so the closing button takes its place."""
    last = len(issue.articles) - 1
    return [
        _article_context(a, links=links, sizes=sizes, cta_label=cta_label, button=i != last)
        for i, a in enumerate(issue.articles)
    ]


def booking_place(url: str) -> str:
    """Where the booking link goes, as a reader can check it: the host, short enough for one
    line on a phone."""
    return urlsplit(url).hostname or url


def preheader_filler(preheader: str) -> str:
    count = max(30, math.ceil((PREHEADER_LENGTH - len(preheader)) / 2))
    return FILLER * count


def render_issue(
    issue: Issue,
    /,
    *,
    config: Config,
    env: jinja2.Environment,
    templates: Path,
) -> Draft:
    """HTML email, plain text and web page for one issue, with placeholder markers in the email."""
    sizes = {src: (w, h) for src, w, h in issue.image_sizes}
    for article in issue.articles:
        sizes.update({src: (w, h) for src, w, h in article.image_sizes})
    css_context = {"brand": config.brand}
    inline_css = _render(env, "email.css", css_context, templates)
    head_css = minify_css(_render(env, "email-head.css", css_context, templates))
    links = _Links(config, issue.id, [], MarkdownCache())
    intro = links.fragment(issue.intro, trusted=True, heading_base=2, sizes=sizes)
    view_url = links.url(f"{config.base_url}/issues/{issue.id}/")
    cta_label = issue.cta or config.cta_text
    articles = _articles(issue, links=links, sizes=sizes, cta_label=cta_label)
    testimonials = [_testimonial_context(t, links) for t in issue.testimonials]
    intro_text = links.markdown.text(intro)
    links.markdown.save()
    context: dict[str, Any] = {
        "config": config,
        "brand": config.brand,
        "issue": issue,
        "intro_html": Markup(intro),
        "intro_text": intro_text,
        "articles": articles,
        "testimonials": testimonials,
        "booking_url": links.url(config.booking_url),
        "booking_place": booking_place(config.booking_url),
        "cta_label": cta_label,
        "view_url": view_url,
        "unsubscribe_page": config.unsubscribe_url
        or f"mailto:{config.unsubscribe_mailto}?subject=unsubscribe",
        "address_html": Markup(address_html(config.postal_address)),
        "preheader_filler": Markup(preheader_filler(issue.preheader)),
        "inline_css": Markup(inline_css),
        "head_css": Markup(head_css),
    }
    nonce = new_nonce()
    email_html = _render(
        env, "email.html", {**context, "web": False, "ph": _email_ph("html", nonce)}, templates
    )
    text = _render(
        env, "email.txt", {**context, "web": False, "ph": _email_ph("text", nonce)}, templates
    )
    web_html = _render(
        env, "email.html", {**context, "web": True, "ph": _web_ph(config)}, templates
    )
    return Draft(
        html=email_html, text=text, web_html=web_html, images=tuple(links.images), nonce=nonce
    )


def _email_ph(context: str, nonce: str) -> Callable[[str], Markup]:
    def ph(name: str) -> Markup:
        return Markup(marker(name, context, nonce))  # type: ignore[arg-type]

    return ph


def _web_ph(config: Config) -> Callable[[str], str]:
    """The web page has no recipient: greet with the fallback, link to the generic unsubscribe."""
    values = {
        "first_name": config.greeting_fallback,
        "name": config.greeting_fallback,
        "email": "",
        "unsubscribe_url": config.unsubscribe_url or f"mailto:{config.unsubscribe_mailto}",
    }
    return lambda name: values[name]
