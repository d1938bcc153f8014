"""What a check works out once and shares between rules (the parsed CSS, each element's inline
style, hidden flag and computed colours, the folded template lines) gives the answers that
working each out again, per element and per rule, gives."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.cssselect import CSSSelector, SelectorError
from test_check import render

from newsletter.check import check_rendered
from newsletter.check.base import Email, Lines, Place, find_place, is_hidden, parse_email
from newsletter.check.cascade import (
    SKIP,
    dark,
    font_px,
    light,
    own_background,
    parse_colour,
    text_elements,
)
from newsletter.check.plaincss import plain_declarations, plain_selectors, plain_stylesheet
from newsletter.check.report import dedupe, sort_findings
from newsletter.check.rules import rules
from newsletter.check.rules.support import css_features, style_features
from newsletter.check.stylesheet import (
    clear_caches,
    parse_css,
    parse_declarations,
    read_declarations,
    read_selectors,
    read_stylesheet,
    split_selectors,
    style_of,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "example"

DECLARATIONS = [
    "color: #000000",
    "color:#000",
    "COLOR: Black",
    "color: #777",
    "color: rgb(10, 20, 30)",
    "color: rgba(0,0,0,0.5)",
    "color: rgb(300 20 30 / 100%)",
    "color: inherit",
    "color: transparent",
    "color: #2d5a4c !important",
    "color:",
    "background-color: #fff",
    "background-color: navy",
    "background: #222 url(x.png) no-repeat",
    "background: linear-gradient(#fff, #000)",
    "background: none",
    "font-size: 10px",
    "font-size: 12pt",
    "font-size: 0.7em",
    "font-size: 80%",
    "font-size: 2rem",
    "font-size: 30px",
    "font-size: large",
    "Font-Size: 1.5EM",
    "font-weight: bold",
    "font-weight: 700",
    "font-weight: 400",
    "font-weight: bolder",
    "display: none",
    "display:none",
    "display: block",
    "mso-hide: all",
    "font-family: Menlo, monospace",
    "word-wrap: break-word",
    "width: calc(100% - 2px)",
    "max-width: 600px",
    "position: absolute",
    "border-radius: 4px",
    "flex-direction: column",
    "color: var(--x)",
    "left: 3px",
    "not a declaration",
]
CLASSES = ["a", "b", "card", "code", "button", "md", ""]
TAGS = ["div", "p", "td", "span", "a", "font", "h2", "h4", "code", "strong", "b", "blockquote"]
SELECTORS = [".a", ".b p", "p", "td.a", ".a, .b", "span", "[bgcolor]", "h2", ".card *", "p:bad("]

styles = st.lists(st.sampled_from(DECLARATIONS), max_size=4).map(
    lambda ds: random.Random(len(ds)).choice(["; ", ";", " ; "]).join(ds)
)
attributes = st.fixed_dictionaries(
    {},
    optional={
        "style": styles,
        "class": st.sampled_from(CLASSES),
        "hidden": st.just(""),
        "bgcolor": st.sampled_from(["#000000", "#fff", "red", "bogus"]),
        "color": st.sampled_from(["#000", "#eee", "blue"]),
    },
)
words = st.sampled_from(["", " ", "\xa0", "Calm", "sleep well", "\u200c"])


def element(tag: str, attrs: dict[str, str], children: list[str]) -> str:
    shown = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"<{tag}{shown}>{''.join(children)}</{tag}>"


fragments = st.recursive(
    words,
    lambda inner: st.builds(
        element, st.sampled_from(TAGS), attributes, st.lists(inner, max_size=4)
    ),
    max_leaves=24,
)
dark_rules = st.lists(
    st.tuples(
        st.sampled_from(SELECTORS),
        st.sampled_from(["color:#eee", "color:#111 !important", "background-color:#222"]),
    ),
    max_size=5,
)


@pytest.fixture(scope="module")
def rendered_example(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("shared") / "ws"
    shutil.copytree(EXAMPLE / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return render(root)


def email_of(rendered_example: Any, body: str, rules_css: list[tuple[str, str]]) -> Email:
    """An Email around a made-up body and kept <style> block."""
    workspace, rendered = rendered_example
    css = "".join(f"{s}{{{d}}}" for s, d in rules_css)
    html = (
        f"<html><head><style>@media (prefers-color-scheme:dark){{{css}}}</style></head>"
        f"<body>{body}</body></html>"
    )
    parser = lxml.html.HTMLParser(remove_comments=False, remove_blank_text=False)
    tree = lxml.html.document_fromstring(html, parser=parser)
    return Email(workspace, rendered, html, tree, "email.html", [], [])


# --- the slow paths: each value worked out from scratch, walking every ancestor -------------


def walk_dark(email: Email) -> dict[etree._Element, dict[str, tuple[str, bool]]]:
    overrides: dict[etree._Element, dict[str, tuple[str, bool]]] = {}
    for rule in parse_css(email.kept_css).rules:
        if not any("prefers-color-scheme" in a and "dark" in a for a in rule.at_rules):
            continue
        for selector in split_selectors(rule.selector):
            try:
                matched = CSSSelector(selector)(email.tree)
            except (SelectorError, ValueError, TypeError):
                continue
            for node in matched:
                target = overrides.setdefault(node, {})
                for d in rule.declarations:
                    if d.important or d.name not in target:
                        target[d.name] = (d.value, d.important)
    return overrides


def walk_declared(node: etree._Element, overrides: dict[Any, Any]) -> dict[str, str]:
    out = style_of(node)
    for name, (value, important) in overrides.get(node, {}).items():
        if important or name not in out:
            out[name] = value
    return out


def walk_style(node: etree._Element, overrides: dict[Any, Any]) -> tuple[str, str, float, bool]:
    chain = [node, *node.iterancestors()]
    declared = [walk_declared(n, overrides) for n in chain]
    colour = background = None
    for n, d in zip(chain, declared, strict=True):
        colour = parse_colour(d.get("color"))
        if colour is None and n.tag == "font":
            colour = parse_colour(n.get("color"))
        if colour:
            break
    for n, d in zip(chain, declared, strict=True):
        background = own_background(d, n)
        if background:
            break
    size = 16.0
    for d in reversed(declared):
        size = font_px(d.get("font-size", "").strip().lower(), size)
    bold = False
    for n, d in zip(chain, declared, strict=True):
        weight = d.get("font-weight", "").strip().lower()
        if weight:
            bold = weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600)
            break
        if n.tag in ("b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"):
            bold = True
            break
    return colour or "#000000", background or "#ffffff", size, bold


# --- the tests ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=fragments, css=dark_rules, order=st.randoms(use_true_random=False))
def test_computed_style_is_what_walking_every_ancestor_gives(
    rendered_example: Any, body: str, css: list[tuple[str, str]], order: random.Random
) -> None:
    """Colour, background, font size and weight, light and dark, asked in any order (a child
    before or after its parent), hidden flags and the text elements: as from scratch."""
    email = email_of(rendered_example, body, css)
    nodes = [n for n in email.tree.iter() if isinstance(n.tag, str)]
    order.shuffle(nodes)
    overrides = walk_dark(email)
    assert dark(email).overrides == overrides
    for node in nodes:
        assert email.is_hidden(node) == is_hidden(node)
        for scheme, extra in ((light(email), {}), (dark(email), overrides)):
            got = (scheme.colour(node), scheme.background(node))
            got += (scheme.font_size(node), scheme.bold(node))
            assert got == walk_style(node, extra)
    expected = [
        n
        for n in email.body.iter()
        if isinstance(n.tag, str)
        and n.tag not in SKIP
        and ((n.text or "") + "".join(c.tail or "" for c in n))
        .replace("\xa0", " ")
        .replace("\u200c", "")
        .strip()
        and not is_hidden(n)
    ]
    assert text_elements(email) == expected


@settings(max_examples=200, deadline=None)
@given(style=styles)
def test_style_attribute_features_are_those_of_each_declaration(style: str) -> None:
    """Remembering the features of a style attribute by its text changes none of them."""
    clear_caches()
    expected = [
        f for d in parse_declarations(style) for f in css_features(d.name, d.value, d.important)
    ]
    assert list(style_features(style)) == expected
    assert list(style_features(style)) == expected


lines_text = st.lists(
    st.text(alphabet="abAB '\u2019\u201c\u201d\u2014\u2026\xa0-.", max_size=12), max_size=8
)


@settings(max_examples=300, deadline=None)
@given(lines=lines_text, needle=st.text(alphabet="abAB '\"\u2019-.", max_size=4))
def test_folded_lines_find_what_find_place_finds(lines: list[str], needle: str) -> None:
    """Folding each template line once finds the same first line as folding it per search."""
    places = [Place("t.html", n, text) for n, text in enumerate(lines, start=1)]
    found = Lines(places)
    assert found.find(needle) == find_place(places, needle)
    assert found.find(needle) == find_place(places, needle)
    pattern = re.compile(re.escape(needle.strip() or "x"))
    assert found.find(pattern) == find_place(places, pattern)


def per_rule(workspace: Any, rendered: Any) -> list[Any]:
    """check_rendered with nothing shared: every rule gets a freshly parsed email."""
    findings = []
    for check in rules():
        clear_caches()
        findings.extend(check(parse_email(workspace, rendered)))
    return sort_findings(dedupe(findings))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 400), styles, st.booleans()), max_size=10),
    css=dark_rules,
)
def test_sharing_between_rules_changes_no_finding(
    rendered_example: Any, edits: list[tuple[int, str, bool]], css: list[tuple[str, str]]
) -> None:
    """The example with style attributes rewritten or extended and dark rules added: the
    findings of one check, where rules share what they work out, are those of every rule
    on its own freshly parsed email."""
    workspace, rendered = rendered_example
    html = rendered.html
    spans = [m.span(1) for m in re.finditer(r'style="([^"]*)"', html)]
    chosen = {index % len(spans): (style, replace) for index, style, replace in edits}
    for index in sorted(chosen, reverse=True):
        (start, end), (style, replace) = spans[index], chosen[index]
        new = style if replace else html[start:end] + ";" + style
        html = html[:start] + new + html[end:]
    extra = "".join(f"{s}{{{d}}}" for s, d in css)
    html = html.replace("</style>", f"@media (prefers-color-scheme:dark){{{extra}}}</style>", 1)
    changed = rendered._replace(html=html)
    clear_caches()
    assert check_rendered(workspace, changed) == per_rule(workspace, changed)


# --- the short cuts for plain CSS read what tinycss2 reads ------------------------------------

VALUE_PIECES = [
    *("a", "b-c", "-x", "--y", "e", "E", "1", "0", ".5", "1.5", "-2", "px", "em", "ex", "%"),
    *("#", "#f0", "(", ")", "rgb(", "url(", "Url(", "calc(", ",", "/", " ", "\t", "\n", "!"),
    *("important", "IMPORTANT", "-", "+", "*", "u", "e3", "_", "1e", "2e-", "h2", '"', '"a b"'),
    *("'", "\\", "\u00e9", "\x00", "\r", "\x0c", ";", ":", "url(x)", "/*", "*/", "{", "}"),
]
values = st.lists(st.sampled_from(VALUE_PIECES), max_size=8).map("".join)
declarations = st.tuples(
    st.sampled_from(["color", "Font-Size", " -x ", "a", "1", "--v", "e", ""]),
    st.sampled_from([":", " : ", ""]),
    values,
    st.sampled_from(["", "!important", " ! IMPORTANT ", "!", "!imp"]),
).map("".join)
blocks = st.lists(declarations, max_size=4).map(";".join)

SELECTOR_PIECES = [
    *("a", ".card", " ", "  ", "h2", ".h7", "#x", "u", "+", " + ", "~", " ~ ", ">", "*"),
    *("[x-a]", "[a=b]", "[a~=b]", "[a,b]", ":is(a, b)", ":root", ":not(p)", "::x", ",", ", "),
    *("a.5", "1", "-", ".", "1-2", "2n", "-2n", "1e", "1e5", "1ex", "@", "(", ")", "[", "]"),
    *("e", ":", "\n", "-->", "u+1", "a:", "#.", "+1", "1.", "--", "*=", '"', "\\", "{", "}"),
]
selectors = st.lists(st.sampled_from(SELECTOR_PIECES), max_size=8).map("".join)
AT_PRELUDES = [
    *("@media (max-width:620px)", "@media (prefers-color-scheme:dark)", "@media screen and (x)"),
    *("@supports (display:grid)", "@font-face", "@import x", "@media", "@1x", "@-x", "@MEDIA (a)"),
    *("@media(a:1.5)", "@layer a"),
]
style_rules = st.tuples(selectors, blocks).map(lambda r: f"{r[0]}{{{r[1]}}}")
sheets = st.lists(
    st.recursive(
        st.one_of(style_rules, st.sampled_from([" ", "\n", ";", "}", "{", "a:{b}", "@x;"])),
        lambda inner: st.builds(
            lambda prelude, body, bare: f"{prelude};" if bare else f"{prelude}{{{body}}}",
            st.sampled_from(AT_PRELUDES),
            st.lists(inner, max_size=3).map("".join),
            st.booleans(),
        ),
        max_leaves=8,
    ),
    max_size=5,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(block=blocks)
@example(block="line-height:1e")  # a unit e is escaped when written back
@example(block="margin:1e-x")
@example(block="font-family:'Georgia'")  # single quotes come back double
@example(block="background:url( x.png )")  # url() loses its spaces
@example(block="color:red !important;width:calc(1px + 2px)")
@example(block="a:b/*c*/d")
def test_plain_declarations_are_what_tinycss2_reads(block: str) -> None:
    """A plain style attribute or rule block reads as tinycss2 reads it; others go to it."""
    plain = plain_declarations(block)
    if plain is not None:
        assert plain == read_declarations(block)
    clear_caches()
    assert parse_declarations(block) == read_declarations(block)


@settings(max_examples=300, deadline=None)
@given(selector=selectors)
@example(selector=".-2n, a.5")  # tinycss2 writes these back with /**/ between the tokens
@example(selector=":nth-child(2n+1), td")
@example(selector="[a~=b], [c*=d]")
@example(selector="h1-2, a 1-2, u+1")
@example(selector=":is(a, b), c")
def test_plain_selector_lists_split_as_tinycss2_splits_them(selector: str) -> None:
    plain = plain_selectors(selector)
    if plain is not None:
        assert plain == read_selectors(selector)
    clear_caches()
    assert tuple(split_selectors(selector)) == read_selectors(selector)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(css=sheets)
@example(css="@media (a){b:{c:d}}")  # read as a declaration with a block value
@example(css="@media (a){.-2n{c:d}}")
@example(css="a{b:c};d{e:f}")
@example(css="a:not(b{c:d}){e:f}")
@example(css="@font-face{src:x(})}a{b:c}")
@example(css="@media (max-width:1.5em){a{b:c}}@import url(x);")
def test_plain_stylesheets_are_what_tinycss2_reads(css: str) -> None:
    """Rules, their at-rules and every at-rule, in order, for generated sheets: plain ones
    (most of them) through the short cut, the rest through tinycss2."""
    plain = plain_stylesheet(css)
    if plain is not None:
        assert plain == read_stylesheet(css)
    clear_caches()
    assert parse_css(css) == read_stylesheet(css)


def test_the_example_email_is_plain_css(rendered_example: Any) -> None:
    """The short cuts cover the real email: its kept block and every style attribute."""
    workspace, rendered = rendered_example
    email = parse_email(workspace, rendered)
    assert plain_stylesheet(email.kept_css) == read_stylesheet(email.kept_css)
    for element in email.elements():
        style = element.get("style")
        if style:
            assert plain_declarations(style) == read_declarations(style)
