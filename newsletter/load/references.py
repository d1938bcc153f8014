"""Every way content names a local file, found with its line and resolved inside content/images/.

A local file is named by its path inside content/images/, the same in front matter and in
Markdown (`legs.jpg`, `2026/legs.jpg`; a leading `images/` is accepted too). Names are read as
URLs (percent-escapes and HTML entities decoded) and resolved with symlinks followed; whatever
lands outside content/images/ is refused, so no content file can publish another file.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from newsletter.load.images import image_size
from newsletter.workspace import Paths

Kind = Literal["image", "link"]


class Reference(NamedTuple):
    """A local name in a Markdown body: what names it, the name as written, its 0-based line."""

    kind: Kind
    what: str
    raw: str
    line: int


class Local(NamedTuple):
    """A resolved local name: `path` is the file under content/images/ (symlinks not followed,
    so the published name is the one written), `real` the file it is; `problem` when refused."""

    name: str
    path: Path | None
    real: Path | None
    problem: str


def images_folder(paths: Paths) -> Path:
    """content/images/ inside the workspace's real location (symlinks in the root resolved)."""
    return paths.root.resolve() / "content" / "images"


def is_local(raw: str) -> bool:
    """True for a name without a scheme: a file of the workspace, not a URL. A '//host/...'
    name is local too: the render publishes whatever has no scheme, so it is checked here."""
    url = html.unescape(raw).strip()
    if not url or url.startswith("#"):
        return False
    return not urlsplit(url).scheme


def local_name(raw: str) -> str:
    """The path inside content/images/ that a local reference names."""
    url = html.unescape(raw).strip()
    path = unquote(urlsplit("/" + url.lstrip("/")).path)
    return path.lstrip("/").removeprefix("images/")


def resolve_local(raw: str, paths: Paths, *, kind: Kind = "image") -> Local:
    """Resolve a local name inside content/images/; symlinks must stay inside it too."""
    name = local_name(raw)
    shown = f"content/images/{name}"
    if (not name or name.endswith("/")) and kind == "image":
        return Local(name, None, None, f"{raw!r} names a folder, not a file")
    if "\0" in name:
        return Local(name, None, None, f"{raw!r} is not a valid file name")
    folder = images_folder(paths)
    lexical = folder / name
    try:
        return _resolve(name, raw, shown, lexical, folder, kind)
    except OSError as exc:
        return Local(name, None, None, f"{shown} cannot be read: {exc.strerror or exc}")


def _resolve(name: str, raw: str, shown: str, lexical: Path, folder: Path, kind: Kind) -> Local:
    real = lexical.resolve()
    if not real.is_relative_to(folder) or real == folder:
        if posixpath.normpath(name).split("/")[0] != ".." and any(
            p.is_symlink() for p in (lexical, *lexical.parents)
        ):
            return Local(
                name,
                None,
                None,
                f"{shown} is a link to a file outside content/images/; only files in "
                "content/images/ are published: copy the file itself there",
            )
        return Local(name, None, None, _outside(raw, name))
    if kind == "link" and not real.is_file():
        return Local(name, None, None, "")  # a page of the web site, under base_url
    if not real.exists():
        if kind == "link":
            return Local(name, None, None, "")
        hint = "; a web address needs https://" if html.unescape(raw).startswith("//") else ""
        return Local(name, None, None, f"{shown} not found (put the file in content/images/){hint}")
    if not real.is_file():
        return Local(name, None, None, f"{shown} is not a file")
    if kind == "image" and image_size(real) is None:
        return Local(name, None, None, f"{shown} is not a PNG, JPEG, GIF or WebP image")
    return Local(name, lexical, real, "")


def _outside(raw: str, name: str) -> str:
    return (
        f"{raw!r} is outside content/images/: only files in content/images/ are published; "
        f"put the file there and write its name, e.g. {posixpath.basename(name) or 'photo.jpg'}"
    )


# --- finding the names in Markdown -----------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.S)
_INLINE = re.compile(
    r"(!?)\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
)
_REF_USE = re.compile(r"!\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\](?:[ ]?\[([^\]\n]*)\])?(?![(\[])")
_REF_DEF = re.compile(r"^ {0,3}\[(?!\^)([^\]\n]+)\]:[ \t]*\n?[ \t]*(<[^>\n]*>|\S+)", re.M)
_TAG = re.compile(r"<[A-Za-z][^>]*>", re.S)
_ATTR = re.compile(
    r"""(?:^|\s)(src|href|srcset|poster|background|data|action|formaction|cite|xlink:href)"""
    r"""\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""",
    re.I,
)
_IMAGE_ATTRS = {"src", "srcset", "poster", "background", "data"}


def _blank(match: re.Match[str]) -> str:
    """Code is shown, never linked: keep its line breaks, drop its text."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos)


def find_references(body: str) -> Iterator[Reference]:
    """Every local name in a Markdown body, in any syntax python-markdown or raw HTML reads."""
    text = _CODE_SPAN.sub(_blank, _FENCE.sub(_blank, body))
    for m in _INLINE.finditer(text):
        raw = m.group(2).removeprefix("<").removesuffix(">")
        kind: Kind = "image" if m.group(1) else "link"
        yield Reference(kind, kind, raw, _line(text, m.start(2)))
    used_by_images = {_ref_id(m.group(2) or m.group(1)) for m in _REF_USE.finditer(text)}
    for m in _REF_DEF.finditer(text):
        raw = m.group(2).removeprefix("<").removesuffix(">")
        ref = _ref_id(m.group(1))
        kind = "image" if ref in used_by_images else "link"
        yield Reference(kind, f"reference [{m.group(1)}]", raw, _line(text, m.start(2)))
    for tag in _TAG.finditer(text):
        for m in _ATTR.finditer(tag.group(0)):
            attr = m.group(1).lower()
            value = m.group(2).strip("\"'")
            line = _line(text, tag.start() + m.start(2))
            kind = "image" if attr in _IMAGE_ATTRS else "link"
            candidates = (
                [c.split()[0] for c in value.split(",") if c.split()]
                if attr == "srcset"
                else [value]
            )
            for raw in candidates:
                yield Reference(kind, attr, raw, line)


def _ref_id(label: str) -> str:
    return " ".join(label.lower().split())
