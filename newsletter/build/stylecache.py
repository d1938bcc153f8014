"""The one module that reaches into premailer: parsed CSS kept on disk, unused imports deferred.

premailer hands the `<style>` block and every style attribute to cssutils, whose parser is
thorough and slow: importing it and parsing the example's 35 rules costs about 75 ms of a cold
build. What comes out is plain data: each selector with its specificity, and each declaration
block as name/value pairs. That is a pure function of the CSS text, the options and the two
libraries, so it is stored in the cache folder under exactly those, as Jinja keeps compiled
templates. When everything is found there, cssutils is not even imported. The email is
byte-for-byte the same with or without the cache; the tests compare the two.

Contract: what this module relies on in premailer 3.10 (pinned in pyproject.toml), each
asserted by tests/test_stylecache.py::test_the_premailer_internals_relied_on_are_there:

- `Premailer._parse_style_rules(self, css_body, ruleset_index)` returns `(rules, leftover)`:
  rules as `(specificity tuple, selector, bulk)`, leftover as `(selector, bulk)` or, for
  @media, cssutils rule objects. CachingPremailer overrides it.
- `Premailer.transform(self, html=None, pretty_print=True, **kwargs)` does the whole job;
  overridden to save the declarations afterwards.
- The instance attributes `exclude_pseudoclasses`, `include_star_selectors`,
  `strip_important` and `disable_validation`, which change what the parse returns (part of
  the cache key).
- `csstext_to_pairs(csstext, validate=True)` in `premailer.merge_style`, with its `_lock`,
  looked up as a module global at call time by `Premailer.transform` (in `premailer.premailer`)
  and by `merge_styles` (in `premailer.merge_style`): both globals are replaced.
- premailer imports `requests` at import time, and cssutils `urllib.request` and
  `importlib.metadata`, only to fetch remote stylesheets (which allow_network=False forbids)
  or to name a version: they are deferred until first used, which a build never does.
- cssutils: `profile.removeProfile(all=True)`, `log.setLevel`, `ser.prefs.useMinified()`.

inline.py is the only caller; nothing else imports premailer or cssutils.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import json
import logging
import os
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from newsletter.build.cache import cache_folder

# --- imports premailer makes but a build does not use --------------------------------------


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is first read, then imports the real one.

    importlib's LazyLoader does not help here: the import statement itself reads the module's
    __spec__, which makes a lazy module load at once.
    """

    def __init__(self, name: str, on_load: Callable[[types.ModuleType], None] | None) -> None:
        super().__init__(name)
        self._deferred_on_load = on_load

    def __getattr__(self, attr: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
            module = importlib.import_module(self.__name__)
            if self._deferred_on_load is not None:
                self._deferred_on_load(module)
        return getattr(importlib.import_module(self.__name__), attr)


def _defer_import(name: str, on_load: Callable[[types.ModuleType], None] | None = None) -> None:
    """Defer a module until it is used; `on_load` sets it up when (and if) it is imported."""
    if name in sys.modules:
        if on_load is not None and not isinstance(sys.modules[name], _Deferred):
            on_load(sys.modules[name])
        return
    stand_in = _Deferred(name, on_load)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, stand_in)


def _quiet_cssutils(cssutils: types.ModuleType) -> None:
    """cssutils logs every mso-* and -webkit-* property at WARNING. Its validation profiles are
    dropped: validation is off, yet their first use compiles hundreds of regular expressions
    (about 100 ms per process)."""
    cssutils.profile.removeProfile(all=True)
    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()


def _defer_unused_imports() -> None:
    """Before premailer is imported: `requests` (with urllib3, ssl, http.cookiejar: about
    60 ms), `urllib.request` (about 25 ms), `importlib.metadata` (8 ms), and cssutils itself
    (about 35 ms), which the cache usually makes unnecessary."""
    _defer_import("requests")
    _defer_import("urllib.request")
    _defer_import("importlib.metadata")
    # cssutils first tries a Google App Engine fetcher; say at once that there is none.
    sys.modules.setdefault("cssutils._fetchgae", None)  # type: ignore[arg-type]
    _defer_import("cssutils", on_load=_quiet_cssutils)
    for name in ("premailer", "cssutils", "CSSUTILS"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger(name).propagate = False


_defer_unused_imports()

import premailer  # noqa: E402  (after the deferral above)
import premailer.merge_style  # noqa: E402
import premailer.premailer  # noqa: E402
from premailer import Premailer  # noqa: E402

# --- parsed CSS on disk --------------------------------------------------------------------

FORMAT = 1
"""Bump when the stored layout changes."""
KEEP = 32
"""Stylesheets kept: one per distinct stylesheet (a brand colour change makes a new one)."""
KEEP_DECLARATIONS = 4096
"""Declaration blocks kept; beyond that, only those the last render used."""

Rule = tuple[tuple[int, ...], str, str]
Pairs = list[tuple[str, str]]


@functools.cache
def _library_stamp() -> list[object]:
    """premailer's version, and the size and time of both libraries' files: an upgrade rewrites
    them. (cssutils has no version attribute, and importing it to ask is what we avoid.)"""
    stamp: list[object] = [FORMAT, premailer.__version__]
    for name in ("cssutils", "premailer"):
        spec = importlib.machinery.PathFinder.find_spec(name)  # not sys.modules: may be deferred
        try:
            info = os.stat(spec.origin or "") if spec else None
        except OSError:
            info = None
        stamp.append([info.st_size, info.st_mtime_ns] if info else None)
    return stamp


def _key(css: str, index: int, options: list[object]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([_library_stamp(), index, options]).encode())
    digest.update(b"\0")
    digest.update(css.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _strings(items: Any, size: int) -> bool:
    return isinstance(items, list) and all(
        isinstance(item, list) and len(item) == size and all(isinstance(s, str) for s in item)
        for item in items
    )


def _read(path: Path) -> tuple[list[Rule], list[tuple[str, str]]] | None:
    """The stored rules, or None when missing or not what this version writes."""
    try:
        data = json.loads(path.read_bytes())
        rules, leftover = data["rules"], data["leftover"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(rules, list) or not all(
        isinstance(rule, list)
        and len(rule) == 3
        and isinstance(rule[0], list)
        and all(type(n) is int for n in rule[0])
        and isinstance(rule[1], str)
        and isinstance(rule[2], str)
        for rule in rules
    ):
        return None
    if not _strings(leftover, 2):
        return None
    return (
        [(tuple(spec), selector, bulk) for spec, selector, bulk in rules],
        [(selector, bulk) for selector, bulk in leftover],
    )


def _write(path: Path, entry: dict[str, object], *, keep: int | None = None) -> None:
    """Atomically; with `keep`, then drop the oldest stylesheets beyond it. A failure only
    costs the cache."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=".tmp-", suffix=".json", delete=False
        ) as handle:
            json.dump(entry, handle, separators=(",", ":"))
        os.replace(handle.name, path)
        if keep is not None:
            entries = sorted(path.parent.glob("sheet-*.json"), key=lambda p: p.stat().st_mtime_ns)
            for old in entries[:-keep]:
                old.unlink(missing_ok=True)
    except OSError:
        return


class _Declarations:
    """premailer's csstext_to_pairs, remembered on disk: declaration text -> name/value pairs.

    premailer calls it for every matched rule and every style attribute; cssutils is imported
    only for text not seen before.
    """

    def __init__(self, parse: Callable[..., Pairs]) -> None:
        self.parse = parse
        # premailer's own function takes its lock through the module global we replace
        self._lock = parse._lock  # type: ignore[attr-defined]
        self.known: dict[str, Pairs] | None = None
        self.used: set[str] = set()
        self.new = False

    def __call__(self, csstext: str, validate: bool = True) -> Pairs:
        key = f"{int(bool(validate))}{csstext}"
        if self.known is None:
            self.known = self._load()
        self.used.add(key)
        pairs = self.known.get(key)
        if pairs is None:
            pairs = self.parse(csstext, validate=validate)
            self.known[key] = pairs
            self.new = True
        return pairs

    @staticmethod
    def _path() -> Path | None:
        folder = cache_folder("stylesheets")
        return folder / "declarations.json" if folder else None

    def _load(self) -> dict[str, Pairs]:
        path = self._path()
        try:
            data = json.loads(path.read_bytes()) if path else None
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("stamp") != _library_stamp():
            return {}
        blocks = data.get("blocks")
        if not isinstance(blocks, dict) or not all(_strings(v, 2) for v in blocks.values()):
            return {}
        return {key: [(name, value) for name, value in v] for key, v in blocks.items()}

    def save(self) -> None:
        """After a render: store what was parsed anew, if anything. Beyond KEEP_DECLARATIONS,
        only what this render used is kept (a long preview session edits many styles)."""
        used, self.used = self.used, set()
        if not self.new or self.known is None:
            return
        if len(self.known) > KEEP_DECLARATIONS:
            self.known = {key: self.known[key] for key in used if key in self.known}
        path = self._path()
        if path is not None:
            _write(path, {"stamp": _library_stamp(), "blocks": self.known})
        self.new = False


# premailer publishes no type information, so its class is Any to mypy.
class CachingPremailer(Premailer):  # type: ignore[misc]
    """premailer, reading parsed CSS from the cache folder when it can."""

    def transform(self, *args: Any, **kwargs: Any) -> str:
        try:
            return cast(str, super().transform(*args, **kwargs))
        finally:
            declarations.save()

    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list[Any], list[Any]]:
        folder = cache_folder("stylesheets")
        if folder is None or not css_body:
            return cast(
                tuple[list[Any], list[Any]], super()._parse_style_rules(css_body, ruleset_index)
            )
        options = [
            self.exclude_pseudoclasses,
            self.include_star_selectors,
            self.strip_important,
            not self.disable_validation,
        ]
        path = folder / f"sheet-{_key(css_body, ruleset_index, options)}.json"
        cached = _read(path)
        if cached is not None:
            return cached
        rules, leftover = cast(
            tuple[list[Any], list[Any]], super()._parse_style_rules(css_body, ruleset_index)
        )
        # @media rules come back as cssutils objects, which are not plain data: not cached.
        if all(isinstance(item, tuple) for item in leftover):
            _write(path, {"rules": rules, "leftover": leftover}, keep=KEEP)
        return rules, leftover


# premailer looks csstext_to_pairs up in these two modules' globals on every call.
declarations = _Declarations(premailer.merge_style.csstext_to_pairs)
premailer.merge_style.csstext_to_pairs = declarations
premailer.premailer.csstext_to_pairs = declarations
