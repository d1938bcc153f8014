"""premailer with its stylesheet parsing kept on disk between runs.

premailer hands the `<style>` block to cssutils, whose parser is thorough and slow: for the
example's 35 rules it is about 40 ms of a cold build. What comes out is plain data (each
selector with its specificity and its declarations as name/value pairs), a pure function of the
CSS text, the options and the two libraries. So it is stored in the cache folder under a hash of
exactly those, as Jinja keeps compiled templates. The email is byte-for-byte the same with or
without the cache; the tests compare the two.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cachetools.keys
import cssutils
import premailer
import premailer.cache
from premailer import Premailer
from premailer.merge_style import csstext_to_pairs

from .cache import cache_folder

FORMAT = 1
"""Bump when the stored layout changes."""
KEEP = 32
"""Entries kept: one per distinct stylesheet (a brand colour change makes a new one)."""

Rule = tuple[tuple[int, ...], str, str]
Pairs = list[tuple[str, str]]


def _library_stamp() -> list[object]:
    """premailer's version, and the size and time of both libraries' files: an upgrade rewrites
    them. (cssutils has no version attribute; asking importlib.metadata costs 8 ms.)"""
    stamp: list[object] = [premailer.__version__]
    for module in (cssutils, premailer):
        try:
            info = os.stat(module.__file__ or "")
        except OSError:
            info = None
        stamp.append([info.st_size, info.st_mtime_ns] if info else None)
    return stamp


def _key(css: str, index: int, options: list[object]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, _library_stamp(), index, options]).encode())
    digest.update(b"\0")
    digest.update(css.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _strings(items: Any, size: int) -> bool:
    return isinstance(items, list) and all(
        isinstance(item, list) and len(item) == size and all(isinstance(s, str) for s in item)
        for item in items
    )


def _read(path: Path) -> tuple[list[Rule], list[tuple[str, str]], dict[str, Pairs]] | None:
    """The stored entry, or None when it is missing or not what this version writes."""
    try:
        data = json.loads(path.read_bytes())
        rules = data["rules"]
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
        pairs = data["pairs"]
        if not _strings(data["leftover"], 2) or not isinstance(pairs, dict):
            return None
        if not all(_strings(value, 2) for value in pairs.values()):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (
        [(tuple(spec), selector, bulk) for spec, selector, bulk in rules],
        [(selector, bulk) for selector, bulk in data["leftover"]],
        {bulk: [(name, value) for name, value in items] for bulk, items in pairs.items()},
    )


def _write(path: Path, entry: dict[str, object]) -> None:
    """Atomically, then drop the oldest entries beyond KEEP. A failure only costs the cache."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=".tmp-", suffix=".json", delete=False
        ) as handle:
            json.dump(entry, handle, separators=(",", ":"))
        os.replace(handle.name, path)
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return


class CachingPremailer(Premailer):
    """premailer, reading its parsed stylesheet from the cache folder when it can."""

    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list, list]:
        folder = cache_folder("stylesheets")
        if folder is None or not css_body:
            return super()._parse_style_rules(css_body, ruleset_index)
        validate = not self.disable_validation
        options = [
            self.exclude_pseudoclasses,
            self.include_star_selectors,
            self.strip_important,
            validate,
        ]
        path = folder / f"{_key(css_body, ruleset_index, options)}.json"
        cached = _read(path)
        if cached is not None:
            rules, leftover, pairs = cached
            _prime_pairs(pairs, validate)
            return rules, leftover
        rules, leftover = super()._parse_style_rules(css_body, ruleset_index)
        # @media rules come back as cssutils objects, which are not plain data: not cached.
        if all(isinstance(item, tuple) for item in leftover):
            pairs = {bulk: csstext_to_pairs(bulk, validate=validate) for _, _, bulk in rules}
            entry = {"rules": rules, "leftover": leftover, "pairs": pairs}
            _write(path, entry)
        return rules, leftover


def _prime_pairs(pairs: dict[str, Pairs], validate: bool) -> None:
    """Give premailer's in-memory cache each rule's declarations, as its own
    `csstext_to_pairs(bulk, validate=...)` would have computed them."""
    with premailer.cache.cache_access_lock:
        for bulk, items in pairs.items():
            premailer.cache.cache[cachetools.keys.hashkey(bulk, validate=validate)] = items
