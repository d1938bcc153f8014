"""Client support: every HTML and CSS feature the email uses, looked up in the caniemail data.

Reported once per feature (not per use), naming the clients that lack it and whether the
template or the content brings it in. Deliberate progressive enhancements (phone and dark
@media rules, client-specific fixes, MSO-only markup, the hidden preheader) are known
fallbacks, not findings. (The kept <style> block's own limits are in rules/css.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from lxml import etree

from newsletter.check.base import WARNING, Email, Finding, is_element, is_hidden
from newsletter.check.rules import rule
from newsletter.check.stylesheet import (
    StyleSheet,
    parse_css,
    parse_declarations,
    split_selectors,
)

CLIENTS = {
    "gmail.desktop-webmail": "Gmail (web)",
    "gmail.ios": "Gmail (iOS)",
    "gmail.android": "Gmail (Android)",
    "gmail.mobile-webmail": "Gmail (mobile web)",
    "apple-mail.macos": "Apple Mail (macOS)",
    "apple-mail.ios": "Apple Mail (iOS)",
    "outlook.windows": "Outlook (Windows)",
    "outlook.windows-mail": "Windows Mail",
    "outlook.macos": "Outlook (macOS)",
    "outlook.outlook-com": "Outlook.com",
    "outlook.ios": "Outlook (iOS)",
    "outlook.android": "Outlook (Android)",
    "yahoo.desktop-webmail": "Yahoo (web)",
    "yahoo.ios": "Yahoo (iOS)",
    "yahoo.android": "Yahoo (Android)",
    "samsung-email.android": "Samsung Email",
}
"""The clients that matter for a practitioner's list: most subscribers read in these."""
NON_GOOGLE = "Gmail with non-Google accounts"

KNOWN_FALLBACKS: dict[str, str] = {
    "css-at-media": "phone rules are an enhancement; the layout is fluid without them",
    "css-at-media-prefers-color-scheme": "dark-mode rules are an enhancement over readable "
    "light colours",
    "css-color-scheme": "only tells clients that support it that dark mode is handled",
    "html-meta-color-scheme": "only tells clients that support it that dark mode is handled",
    "css-important": "used in the kept <style> block so phone and dark rules beat inline styles",
    "html-style": "every style the email needs is inlined; the <style> block only enhances",
    "html-comments": "MSO conditional comments, read only by Outlook for Windows",
    "css-max-width": "Outlook for Windows gets the 600 px MSO ghost table instead",
    "css-border-radius": "square corners where unsupported; purely cosmetic",
    "css-display-none": "hides the preheader, which also carries mso-hide:all for Outlook",
    "css-opacity": "part of hiding the preheader",
    "css-max-height": "part of hiding the preheader",
    "css-overflow": "part of hiding the preheader",
    "html-role": "ignored where unsupported; screen readers that support it get the semantics",
    "html-aria-label": "ignored where unsupported; screen readers that support it get the label",
    "html-doctype": "clients that drop it render the same table layout",
    "html-lang": "the language is also set on the article wrapper",
    "html-dir": "the direction is also set on the article wrapper",
    "html-anchor-links": "footnote jumps; the notes still follow the text where unsupported",
    "html-body": "clients that replace <body> keep the wrapper table, which repeats its colours",
    "html-target": "those clients open every link in a new tab anyway",
    "css-height": "Yahoo reads it as min-height; the 1 px divider also has a height attribute",
    "css-text-decoration": "links stay underlined by default; only the button would show one",
    "css-word-wrap": "the breaking trio: where word-wrap is dropped, overflow-wrap or "
    "word-break breaks long words; Outlook for Windows keeps its fixed 600 px width",
    "css-overflow-wrap": "the breaking trio: where overflow-wrap is dropped, word-wrap and "
    "word-break break long words",
    "css-word-break": "the breaking trio: where word-break is dropped, word-wrap breaks long "
    "words inside the fixed-layout card",
    "css-table-layout": "Outlook keeps the widths from the width attributes instead",
}
"""Features the template uses on purpose with a fallback; never reported."""

ENHANCEMENT_SELECTORS = re.compile(
    r"\[x-apple-data-detectors\]|\[data-ogs[cb]\]|^u\s*[+~]\s*(#body|div\s+\.email)|#MessageViewBody|"
    r"\.ExternalClass|^:root$"
)
"""Client-specific fixes in the kept block: each targets one client on purpose."""

FIXES = {
    "css-background-image": "give the element a background-color that keeps text readable "
    "without the image",
    "css-linear-gradient": "set a solid background-color before the gradient",
    "css-at-font-face": "list web-safe fonts after the web font (Helvetica, Arial, sans-serif)",
    "css-at-import": "inline the CSS instead of importing it",
    "css-display-flex": "lay out with tables; flexbox is ignored by Outlook and others",
    "css-display-grid": "lay out with tables; grid is ignored by most clients",
    "css-position": "lay out with tables; positioning is stripped by Gmail and Outlook",
    "html-svg": "use a PNG instead of SVG",
    "image-svg": "use a PNG instead of SVG",
    "image-webp": "use JPEG or PNG; WebP doesn't show in Outlook for Windows",
    "html-video": "link to the video from a still image instead",
    "html-form": "link to a form on your website instead",
}


@cache
def load_data() -> dict[str, Any]:
    """The vendored caniemail snapshot (refresh with `python -m newsletter.check.refresh_caniemail`)."""
    text = resources.files("newsletter").joinpath("assets/caniemail.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _property_index() -> dict[str, str]:
    """CSS property name -> feature slug, from the feature titles and their keyword lists."""
    index: dict[str, str] = {}
    keyword_index: dict[str, str] = {}
    for slug, feature in load_data()["features"].items():
        if feature["category"] != "css":
            continue
        title = feature["title"].strip().removesuffix(" shorthand").removesuffix(" property")
        title = title.strip()
        if re.fullmatch(r"[a-z-]+", title):
            index.setdefault(title, slug)
        if slug in ("css-left-right-top-bottom",):
            for name in ("left", "right", "top", "bottom"):
                index.setdefault(name, slug)
        for keyword in feature["keywords"].split(","):
            keyword = keyword.strip()
            if re.fullmatch(r"[a-z]+-[a-z-]+", keyword):
                keyword_index.setdefault(keyword, slug)
    for name, slug in keyword_index.items():
        index.setdefault(name, slug)
    index["block-size"] = index["inline-size"] = "css-block-inline-size"
    return index


def property_slug(name: str) -> str | None:
    if name.startswith(("-", "mso-")):
        return None
    index = _property_index()
    while name:
        if name in index:
            return index[name]
        if "-" not in name:
            return None
        name = name.rsplit("-", 1)[0]
    return None


PAIRS = {
    ("display", "none"): "css-display-none",
    ("display", "flex"): "css-display-flex",
    ("display", "inline-flex"): "css-display-flex",
    ("display", "grid"): "css-display-grid",
    ("flex-direction", "column"): "css-flex-direction",
    ("flex-wrap", "wrap"): "css-flex-wrap",
}
FUNCTIONS = {
    "calc": "css-unit-calc",
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "clamp": "css-function-clamp",
    "min": "css-function-min",
    "max": "css-function-max",
    "var": "css-variables",
    "light-dark": "css-function-light-dark",
    "lch": "css-modern-color",
    "oklch": "css-modern-color",
    "lab": "css-modern-color",
    "oklab": "css-modern-color",
}
UNITS = re.compile(r"(?<![\w#-])[\d.]+(px|%|em|rem|pt|vw|vh|vmin|vmax|ch|ex|cm|mm|in|pc)\b|%")
TAGS = {
    **{t: f"html-{t}" for t in ("abbr", "acronym", "address", "audio", "bdi", "blockquote")},
    **{t: f"html-{t}" for t in ("code", "del", "dfn", "dialog", "div", "form", "hr", "img")},
    **{t: f"html-{t}" for t in ("link", "marquee", "meter", "object", "p", "picture", "pre")},
    **{t: f"html-{t}" for t in ("progress", "rp", "rt", "ruby", "select", "small", "span")},
    **{t: f"html-{t}" for t in ("strike", "strong", "svg", "table", "textarea", "video")},
    "wbr": "html-wbr",
    "base": "html-base",
    "body": "html-body",
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
    **{t: "html-lists" for t in ("ul", "ol", "dl")},
    **{
        t: "html-semantics"
        for t in (
            "article",
            "aside",
            "details",
            "figcaption",
            "figure",
            "footer",
            "header",
            "main",
            "mark",
            "nav",
            "section",
            "summary",
            "time",
        )
    },
}
ATTRIBUTES = {
    **{a: f"html-{a}" for a in ("align", "background", "cellpadding", "cellspacing", "dir")},
    **{a: f"html-{a}" for a in ("height", "hidden", "lang", "role", "target", "valign")},
    **{a: f"html-{a}" for a in ("width", "required", "popover")},
    "loading": "html-loading-attribute",
    "srcset": "html-srcset",
    "sizes": "html-srcset",
    **{
        f"aria-{a}": f"html-aria-{a}"
        for a in ("describedby", "hidden", "label", "labelledby", "live")
    },
}
IMAGE_TYPES = {
    "apng": "image-apng",
    "avif": "image-avif",
    "bmp": "image-bmp",
    "gif": "image-gif",
    "heic": "image-heif",
    "heif": "image-heif",
    "ico": "image-ico",
    "jpeg": "image-jpg",
    "jpg": "image-jpg",
    "png": "image-png",
    "svg": "image-svg",
    "tif": "image-tiff",
    "tiff": "image-tiff",
    "webp": "image-webp",
}
CONTENT_HINTS = {
    "html-abbr": r"^\*\[|<abbr",
    "html-lists": r"^\s*([-*+]|\d+\.)\s",
    "html-table": r"^\s*\|",
    "html-pre": r"^```|^~~~|<pre",
    "html-code": r"`",
    "html-hr": r"^\s*([-*_]\s*){3,}$",
    "html-blockquote": r"^>",
    "html-anchor-links": r"\[\^",
    "html-mailto-links": r"mailto:",
}


# --- collecting uses ---------------------------------------------------------------------------


@dataclass
class Use:
    slug: str
    count: int = 0
    first: etree._Element | None = None
    hint: str = ""
    """Text to look for in the templates (a property name, a tag)."""


@dataclass
class Uses:
    found: dict[str, Use] = field(default_factory=dict)

    def add(self, slug: str | None, element: etree._Element | None = None, hint: str = "") -> None:
        if not slug:
            return
        use = self.found.setdefault(slug, Use(slug, hint=hint))
        use.count += 1
        if use.first is None and element is not None:
            use.first = element
        if not use.hint and hint:
            use.hint = hint


def css_features(name: str, value: str, important: bool = False) -> Iterator[tuple[str, str]]:
    """(slug, hint) for one declaration: property, property:value pair, functions, units."""
    name = name.strip().lower()
    value = value.strip()
    slug = property_slug(name)
    if slug:
        yield slug, f"{name}:"
    pair = PAIRS.get((name, value.lower()))
    if pair:
        yield pair, f"{name}: {value}"
    for function in re.findall(r"([a-z-]+)\(", value.lower()):
        if function in FUNCTIONS:
            yield FUNCTIONS[function], f"{function}("
    if not name.startswith(("-", "mso-")):
        for m in UNITS.finditer(value):
            unit = m.group(1) or "%"
            yield ("css-unit-percent" if unit == "%" else f"css-unit-{unit}"), f"{name}:"
    if important:
        yield "css-important", "!important"


def selector_features(selector: str) -> Iterator[str]:
    for part in split_selectors(selector):
        if "#" in part:
            yield "css-selector-id"
        if "." in part:
            yield "css-selector-class"
        if "[" in part:
            yield "css-selector-attribute"
        if "*" in part:
            yield "css-selector-universal"
        if "+" in part:
            yield "css-selector-adjacent-sibling"
        if "~" in part:
            yield "css-selector-general-sibling"
        if ">" in part:
            yield "css-selector-child"
        if re.search(r"[\w\])]\s+[\w.#\[*:]", part):
            yield "css-selector-descendant"
        if re.search(r"[\w\])][.#\[:]", part):
            yield "css-selector-chaining"
        for pseudo in re.findall(r"::([a-z-]+)", part):
            yield f"css-pseudo-element-{pseudo}"
        for pseudo in re.findall(r"(?<!:):([a-z-]+)", part):
            yield f"css-pseudo-class-{pseudo}" if pseudo != "lang" else "css-pseudo-class-lang"
    if "," in selector:
        yield "css-selector-grouping"


def collect(
    tree: etree._Element,
    kept_css: str | StyleSheet,
    *,
    document: bool = True,
    hidden: Callable[[etree._Element], bool] = is_hidden,
) -> Uses:
    """Every feature used in a document: inline styles, kept <style>, elements, attributes.
    `kept_css` may come parsed; `hidden` may answer from a pass already made (Email.is_hidden)."""
    uses = Uses()
    for node in tree.iter():
        if not is_element(node):
            if isinstance(node, etree._Comment):
                uses.add("html-comments", None, "<!--")
            continue
        skip = document and hidden(node)
        tag = node.tag.lower()
        uses.add(TAGS.get(tag), node, f"<{tag}")
        if tag == "input":
            uses.add(f"html-input-{(node.get('type') or 'text').lower()}", node, "<input")
        if tag == "button":
            uses.add(f"html-button-{(node.get('type') or 'submit').lower()}", node, "<button")
        if tag == "meta" and (node.get("name") or "").lower() == "color-scheme":
            uses.add("html-meta-color-scheme", node, "color-scheme")
        for attr in map(str, node.attrib):
            uses.add(ATTRIBUTES.get(attr.lower()), node, f'{attr}="')
        if tag == "a":
            href = (node.get("href") or "").strip().lower()
            if href.startswith("mailto:"):
                uses.add("html-mailto-links", node, "mailto:")
            elif href.startswith("#") and len(href) > 1:
                uses.add("html-anchor-links", node, 'href="#')
        if tag == "img":
            src = (node.get("src") or "").strip().lower()
            if src.startswith("data:"):
                uses.add("image-base64", node, "data:")
            else:
                ext = src.split("?")[0].rsplit(".", 1)[-1]
                uses.add(IMAGE_TYPES.get(ext), node, f".{ext}")
        if skip:
            continue
        for slug, hint in style_features(node.get("style") or ""):
            uses.add(slug, node, hint)
    if document and getattr(tree.getroottree().docinfo, "doctype", None):
        uses.add("html-doctype", None, "<!DOCTYPE")
    _collect_css(kept_css, uses)
    return uses


@lru_cache(maxsize=4096)
def style_features(style: str) -> tuple[tuple[str, str], ...]:
    """(slug, hint) of every declaration in a style attribute, in order. Remembered by text:
    an inlined email repeats the same few style attributes on every element."""
    return tuple(
        feature
        for d in parse_declarations(style)
        for feature in css_features(d.name, d.value, d.important)
    )


def _collect_css(css: str | StyleSheet, uses: Uses) -> None:
    if isinstance(css, str):
        if not css.strip():
            return
        sheet = parse_css(css)
    else:
        sheet = css
    for at in sheet.at_rules:
        name = re.match(r"@([a-z-]+)", at.prelude.lower())
        keyword = name.group(1) if name else ""
        slug = {
            "media": "css-at-media",
            "font-face": "css-at-font-face",
            "import": "css-at-import",
            "keyframes": "css-at-keyframes",
            "supports": "css-at-supports",
        }.get(keyword)
        uses.add(slug, None, f"@{keyword}")
        if keyword == "media":
            for feature, slug in (
                ("prefers-color-scheme", "css-at-media-prefers-color-scheme"),
                ("prefers-reduced-motion", "css-at-media-prefers-reduced-motion"),
                ("orientation", "css-at-media-orientation"),
                ("hover", "css-at-media-hover"),
                ("device-pixel-ratio", "css-at-media-device-pixel-ratio"),
            ):
                if feature in at.prelude:
                    uses.add(slug, None, feature)
    for style_rule in sheet.rules:
        if style_rule.at_rules:
            continue  # inside @media: phone and dark-mode enhancements over the inlined base
        selectors = [
            s for s in split_selectors(style_rule.selector) if not ENHANCEMENT_SELECTORS.search(s)
        ]
        if not selectors:
            continue
        for slug in selector_features(", ".join(selectors)):
            uses.add(slug, None, selectors[0])
        for d in style_rule.declarations:
            for slug, hint in css_features(d.name, d.value, d.important):
                uses.add(slug, None, hint)


# --- reporting ---------------------------------------------------------------------------------


def lacking(slug: str) -> list[str]:
    """Names of the clients that matter where the feature does not work."""
    feature = load_data()["features"].get(slug)
    if feature is None:
        return []
    names = []
    non_google = False
    for client, label in CLIENTS.items():
        status = feature["support"].get(client, "u")
        note = feature["notes"].get(client, "")
        if status == "n":
            names.append(label)
        elif client.startswith("gmail.") and re.search(r"\bNot supported with non[- ]Google", note):
            non_google = True
    if non_google and not any(n.startswith("Gmail") for n in names):
        names.append(NON_GOOGLE)
    return names


@rule
def _client_support(email: Email) -> list[Finding]:
    sheet = email.sheet if email.kept_css.strip() else ""
    uses = collect(email.tree, sheet, hidden=email.is_hidden)
    content: dict[str, tuple[str, int]] | None = None
    out = []
    for slug, use in sorted(uses.found.items()):
        if slug in KNOWN_FALLBACKS:
            continue
        clients = lacking(slug)
        if not clients:
            continue
        if content is None:  # rendering the content again is needed only to say who used it
            content = _content_uses(email)
        feature = load_data()["features"][slug]
        origin = content.get(slug)
        if origin:
            where, source = origin, "content"
        else:
            where = (use.hint and email.in_templates(_hint_pattern(use.hint))) or (
                email.at(use.first) if use.first is not None else (email.output, 0)
            )
            source = "template"
        times = f"used {use.count} time{'s' if use.count != 1 else ''}"
        out.append(
            email.finding(
                "client-support",
                WARNING,
                where,
                f"{feature['title']} does not work in {_list(clients)} ({times}, from the "
                f"{source}); see {feature['url']}",
                FIXES.get(slug, "make sure the email still reads well without it, or avoid it"),
            )
        )
    return out


def _hint_pattern(hint: str) -> re.Pattern[str]:
    """A property name only where it starts a declaration (height: but not line-height:)."""
    if re.fullmatch(r"[a-z-]+:", hint):
        return re.compile(rf"(?<![\w-]){re.escape(hint[:-1])}\s*:")
    if re.fullmatch(r"[a-z-]+: .+", hint):
        name, value = hint.split(": ", 1)
        return re.compile(rf"(?<![\w-]){re.escape(name)}\s*:\s*{re.escape(value)}")
    return re.compile(re.escape(hint), re.IGNORECASE)


def _list(names: Iterable[str]) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _content_uses(email: Email) -> dict[str, tuple[str, int]]:
    """Features that content brings in (raw HTML, Markdown tables, images...), with their line."""
    import lxml.html

    from newsletter.build.render import markdown_to_html

    issue = email.rendered.issue
    pieces = [(issue.path, issue.intro, issue.intro_line, True)]
    pieces += [(a.path, a.body, a.body_line, True) for a in issue.articles]
    pieces += [(t.path, t.body, t.body_line, False) for t in issue.testimonials]
    found: dict[str, tuple[str, int]] = {}
    for path, body, start, trusted in pieces:
        if not body.strip():
            continue
        fragment = markdown_to_html(body, trusted=trusted)
        tree = lxml.html.fragment_fromstring(fragment, create_parent="div")
        uses = collect(tree, "", document=False)
        for slug, use in uses.found.items():
            if slug in found or slug in ("html-div", "html-comments"):
                continue
            found[slug] = (path, start + _line_in(body, slug, use.hint))
    return found


def _line_in(body: str, slug: str, hint: str) -> int:
    pattern = CONTENT_HINTS.get(slug)
    for number, line in enumerate(body.split("\n")):
        if (pattern and re.search(pattern, line)) or (hint and hint.lower() in line.lower()):
            return number
    return 0
