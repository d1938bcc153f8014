"""Markdown and Jinja2: an Issue becomes the email's HTML and plain text, once per issue.

Autoescape is on for HTML templates and StrictUndefined everywhere. The practitioner's Markdown
may carry raw HTML, which still passes an email-safe allow-list (nh3); a testimonial is a
client's words pasted in, so raw HTML in it is shown as text, never interpreted.
"""

from __future__ import annotations

import html
import math
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import markdown
import nh3
from markupsafe import Markup

from newsletter.build import textify
from newsletter.build.cache import cache_folder
from newsletter.build.links import add_utm, finish_links, own_hosts
from newsletter.build.placeholders import marker, new_nonce
from newsletter.errors import NewsletterError, Problem
from newsletter.load.images import display_size
from newsletter.model import Article, Config, Issue, Testimonial


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
PREHEADER_LENGTH = 200
FILLER = "&#847;&zwnj;&nbsp;"


def sanitize(fragment: str) -> str:
    """Email-safe allow-list: no script, style, event handler, form or javascript: URL."""
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
    md = markdown.Markdown(extensions=_extensions(), output_format="html")
    if not trusted:
        # Client words: raw HTML is escaped and shown as text, never parsed.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
    return md


def markdown_to_html(
    source: str, *, trusted: bool, heading_base: int = 3, id_prefix: str = ""
) -> str:
    """Sanitised HTML for a Markdown source; headings shifted so the outline stays correct."""
    md = _markdown(trusted)
    md.reset()
    fragment = sanitize(md.convert(source))
    if id_prefix:
        fragment = re.sub(r'(id|href)="(#?)(fn(?:ref)?:)', rf'\1="\2{id_prefix}-\3', fragment)
    fragment = shift_headings(fragment, heading_base)
    fragment = fragment.replace("<table>", '<table class="md">').replace("<td>", '<td class="md">')
    fragment = re.sub(r"<td( align=\"\w+\")>", r'<td class="md"\1>', fragment)
    return fragment


def shift_headings(fragment: str, base: int) -> str:
    """Move headings down so the highest is `base` (the article title is the h2 above them)."""
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", fragment)]
    if not levels or min(levels) >= base:
        return fragment
    delta = base - min(levels)
    return re.sub(
        r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + delta)}", fragment
    )


def size_images(fragment: str, sizes: Mapping[str, tuple[int, int]]) -> str:
    """Give body images width/height attributes (Outlook needs them) and fluid styling."""

    def fix(m: re.Match[str]) -> str:
        tag = m.group(0)
        src = re.search(r'src="([^"]*)"', tag)
        if src is None:
            return tag
        if "width=" not in tag and src.group(1) in sizes:
            w, h = display_size(*sizes[src.group(1)])
            tag = tag[:-1].rstrip("/ ") + f' width="{w}" height="{h}">'
        return tag.replace("<img ", '<img style="max-width:100%;height:auto;border:0;" ', 1)

    return re.sub(r"<img\b[^>]*>", fix, fragment)


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

    def fragment(self, fragment: str) -> str:
        hosts = own_hosts(self.config.base_url, self.config.booking_url)
        out, used = finish_links(
            fragment,
            base_url=self.config.base_url,
            issue_id=self.issue_id,
            hosts=hosts,
            utm=self.config.utm,
        )
        self.images.extend(i for i in used if i not in self.images)
        return out

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
    article: Article, *, config: Config, links: _Links, sizes: Mapping[str, tuple[int, int]]
) -> dict[str, Any]:
    body = markdown_to_html(article.body, trusted=True, heading_base=3, id_prefix=article.slug)
    body = links.fragment(size_images(body, sizes))
    image = None
    if article.image is not None:
        url = links.image(article.image.src)
        image = {
            "url": url,
            "alt": article.image.alt,
            "width": article.image.width,
            "height": article.image.height,
        }
    cta = config.cta_text if article.cta == "default" else article.cta
    return {
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "html": Markup(body),
        "text": textify.html_to_text(body),
        "image": image,
        "cta": cta,
    }


def _testimonial_context(testimonial: Testimonial, links: _Links) -> dict[str, Any]:
    body = markdown_to_html(
        testimonial.body, trusted=False, heading_base=4, id_prefix=testimonial.slug
    )
    body = links.fragment(body)
    return {
        "author": testimonial.author,
        "service": testimonial.service,
        "html": Markup(body),
        "text": textify.html_to_text(body, width=textify.WIDTH - 2),  # quoted with "> "
    }


def preheader_filler(preheader: str) -> str:
    count = max(20, math.ceil((PREHEADER_LENGTH - len(preheader)) / 3))
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
    links = _Links(config, issue.id, [])
    intro = markdown_to_html(issue.intro, trusted=True, heading_base=2, id_prefix="intro")
    intro = links.fragment(size_images(intro, sizes))
    view_url = links.url(f"{config.base_url}/issues/{issue.id}/")
    closing_cta = issue.cta or config.cta_text
    context: dict[str, Any] = {
        "config": config,
        "brand": config.brand,
        "issue": issue,
        "intro_html": Markup(intro),
        "intro_text": textify.html_to_text(intro),
        "articles": [
            _article_context(a, config=config, links=links, sizes=sizes) for a in issue.articles
        ],
        "testimonials": [_testimonial_context(t, links) for t in issue.testimonials],
        "booking_url": links.url(config.booking_url),
        "closing_cta": closing_cta,
        "closing_note": "",
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
