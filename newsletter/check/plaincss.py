"""Short cuts for CSS written plainly, as an inlined email's is: the declarations, rules and
selector lists that tinycss2 would read, found with a few patterns instead of its tokenizer
(a fresh `newsletter check` spent most of its time there).

Each short cut answers None for any text outside what it can read exactly; the caller then
asks tinycss2 (check/stylesheet.py). tests/test_check_shared.py pins every answer against
tinycss2's on generated CSS.
"""

from __future__ import annotations

import re

from newsletter.check.cssmodel import GROUPING, AtRule, Declaration, Rule, StyleSheet

_WS = r"[ \t\n]"
_IDENT = r"-?[A-Za-z_][A-Za-z0-9_-]*"
_ATOM = (
    r"(?:#[A-Za-z0-9_-]+"  # a hash: #fff
    r'|"[^"\\\n\r\f\x00]*"'  # a double-quoted string without escapes: "Times New Roman"
    r"|-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:%|(?![eE](?![A-Za-z]))[A-Za-z]+)?"  # 0, 1.5em, 50%
    rf"|{_IDENT})"  # a keyword
)
_SEP = rf"(?:{_WS}*[,/]{_WS}*|{_WS}+)"
_FUNCTION = (
    rf"(?!(?i:url)\(){_IDENT}\({_WS}*(?:{_ATOM}(?:(?:{_SEP}|{_WS}+-{_WS}+){_ATOM})*)?{_WS}*\)"
)
_TERM = rf"(?:{_FUNCTION}|{_ATOM})"
_PLAIN_DECLARATION = re.compile(
    rf"{_WS}*({_IDENT}){_WS}*:({_WS}*(?:{_TERM}(?:{_SEP}{_TERM})*)?{_WS}*)"
    rf"(!{_WS}*[iI][mM][pP][oO][rR][tT][aA][nN][tT]{_WS}*)?"
)
_BLANK = re.compile(f"{_WS}*")


def plain_declarations(block: str) -> tuple[Declaration, ...] | None:
    """read_declarations(block) for a block written plainly; None for any other.

    Plain: every `;`-separated part blank or `name: value [!important]`, the value keywords,
    numbers with units, #hashes, double-quoted strings without escapes and one level of
    functions (not url()), separated by spaces, commas or slashes. Each such piece is one CSS
    token that tinycss2 writes back as it was written, so a value's text is its serialisation.
    Single quotes, escapes, comments, url(), nested blocks and anything unusual fail the
    pattern and are left to tinycss2."""
    out = []
    for part in block.split(";"):
        match = _PLAIN_DECLARATION.fullmatch(part)
        if match is None:
            if _BLANK.fullmatch(part):
                continue
            return None
        name, value, important = match.groups()
        out.append(Declaration(name.lower(), value.strip(), important is not None))
    return tuple(out)


# --- the short cut for a plainly written stylesheet ----------------------------------------
#
# A stylesheet without quotes, escapes, comments, url() or unicode ranges, whose brackets nest
# and hold no braces, has braces where tinycss2 sees blocks; a prelude made of plain selector
# or media-query pieces is serialised by tinycss2 as written (it adds `/**/` only between
# tokens that would run together, such as `a.5`, `.-2n`, `1-2`, `~=`, and escapes a unit `e`).

_SHEET_CHARS = re.compile(r"[A-Za-z0-9_ \t\n.#:,;>~*\[\]=()%+!/{}@-]*")
_SHEET_RISKS = re.compile(r"/\*|-->|[uU]\+")
_PRELUDE_CHARS = re.compile(r"[A-Za-z0-9_ \t\n.#:,>~*\[\]=()%+-]*")
_PRELUDE_RISKS = re.compile(
    r"\.-?[.0-9]|[0-9][eE](?![A-Za-z_])|[0-9]-[.0-9]|[~*]=|(?<![ \t\n])\+|\+(?![ \t\n])"
)
_AT_KEYWORD = re.compile(r"@(-?[A-Za-z_][A-Za-z0-9_-]*)")
_LIKE_DECLARATION = re.compile(r"[ \t\n]*[A-Za-z0-9_-]+[ \t\n]*:[ \t\n]*")
"""A nested prelude tinycss2 would read as a declaration with a block value."""
_SPACE = re.compile(r"[ \t\n]*")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def plain_stylesheet(css: str) -> StyleSheet | None:
    """read_stylesheet(css) for a plain stylesheet; None for any other."""
    rules: list[Rule] = []
    at_rules: list[AtRule] = []
    if _plain_sheet(css) and _plain_rules(css, (), rules, at_rules):
        return StyleSheet(tuple(rules), tuple(at_rules))
    return None


def plain_selectors(selector: str) -> tuple[str, ...] | None:
    """read_selectors(selector) for a plain selector list (its text split at the commas
    outside brackets); None for any other."""
    if not (_plain_prelude(selector) and _plain_sheet(selector)):
        return None
    parts: list[str] = []
    depth = start = 0
    for at, c in enumerate(selector):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(selector[start:at].strip())
            start = at + 1
    parts.append(selector[start:].strip())
    return tuple(part for part in parts if part)


def _plain_sheet(css: str) -> bool:
    """Plain characters, and (), [] and {} nesting properly with no braces inside () or []."""
    if not _SHEET_CHARS.fullmatch(css) or _SHEET_RISKS.search(css):
        return False
    stack: list[str] = []
    for c in css:
        if c in "([{":
            if c == "{" and stack and stack[-1] != "{":
                return False
            stack.append(c)
        elif c in _CLOSERS and (not stack or stack.pop() != _CLOSERS[c]):
            return False
    return not stack


def _plain_prelude(text: str) -> bool:
    return bool(_PRELUDE_CHARS.fullmatch(text)) and not _PRELUDE_RISKS.search(text)


def _closing(text: str, start: int) -> int:
    """The index of the brace closing the one at `start` (braces known to nest)."""
    depth = 0
    for at in range(start, len(text)):
        if text[at] == "{":
            depth += 1
        elif text[at] == "}":
            depth -= 1
            if depth == 0:
                return at
    raise ValueError("unbalanced braces")  # pragma: no cover: _plain_sheet checked them


def _plain_rules(
    text: str, parents: tuple[str, ...], rules: list[Rule], at_rules: list[AtRule]
) -> bool:
    """The rules and at-rules of a plain sheet's text, in order; False where it is not plain."""
    pos = 0
    while True:
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # always matches
        if pos >= len(text):
            return True
        if text[pos] == "@":
            pos = _plain_at_rule(text, pos, parents, rules, at_rules)
        else:
            pos = _plain_style_rule(text, pos, parents, rules)
        if pos < 0:
            return False


def _plain_at_rule(
    text: str, pos: int, parents: tuple[str, ...], rules: list[Rule], at_rules: list[AtRule]
) -> int:
    """Read the at-rule at `pos`; where it ends, or -1 when it is not plain."""
    keyword = _AT_KEYWORD.match(text, pos)
    stop = re.compile("[{;]").search(text, keyword.end()) if keyword else None
    if keyword is None or stop is None or not _plain_prelude(text[keyword.end() : stop.start()]):
        return -1
    prelude = f"@{keyword.group(1)}{text[keyword.end() : stop.start()]}".strip()
    at_rules.append(AtRule(prelude, parents))
    if stop.group() == ";":
        return stop.end()
    close = _closing(text, stop.start())
    if keyword.group(1).lower() in GROUPING:
        content = text[stop.end() : close]
        if not _plain_rules(content, (*parents, prelude), rules, at_rules):
            return -1
    return close + 1


def _plain_style_rule(text: str, pos: int, parents: tuple[str, ...], rules: list[Rule]) -> int:
    """Read the style rule at `pos`; where it ends, or -1 when it is not plain."""
    brace = text.find("{", pos)
    prelude = text[pos:brace]
    if brace < 0 or ";" in prelude or "}" in prelude or not _plain_prelude(prelude):
        return -1
    if parents and _LIKE_DECLARATION.fullmatch(prelude):
        return -1
    close = _closing(text, brace)
    block = text[brace + 1 : close]
    declarations = None if "{" in block else plain_declarations(block)
    if declarations is None:
        return -1
    selector = " ".join(prelude.split())
    if selector:
        rules.append(Rule(selector, declarations, parents))
    return close + 1
