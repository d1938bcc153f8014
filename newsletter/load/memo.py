"""Results of slow pure functions of text, kept in the per-user cache folder between processes.

A build in a new process would otherwise parse the same front matter and convert the same
Markdown every time, importing PyYAML and python-markdown only to do so. A memo is one file
per kind of result, read once, written back (atomically) only when it gained entries. It is
stamped with the files of the code that computes the results: an upgrade or an edit of that
code makes every entry stale, and a stale or unreadable file is simply ignored. Deleting the
folder is always safe.

The file is a pickle, trusted as Jinja trusts its compiled templates in the same folder: the
folder is the user's own (mode 700).
"""

from __future__ import annotations

import importlib.machinery
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 2
"""Bump when the stored layout changes."""


def cache_folder(kind: str) -> Path | None:
    """`$NEWSLETTER_CACHE_DIR/<kind>`, else the XDG cache home's `newsletter/<kind>`.

    None when the folder cannot be made (a read-only home, say): the work is then simply done
    every time.
    """
    base = os.environ.get("NEWSLETTER_CACHE_DIR")
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        if base:
            root = Path(base)
        elif xdg:
            root = Path(xdg) / "newsletter"
        else:
            root = Path.home() / ".cache" / "newsletter"
    except (RuntimeError, KeyError):  # no home directory to expand
        return None
    if not root.is_absolute():  # an unexpandable "~": never a folder under the workspace
        return None
    folder = root / kind
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder


def package_file(name: str) -> str | None:
    """Where a top-level package's code is, found without importing it."""
    spec = importlib.machinery.PathFinder.find_spec(name)
    return spec.origin if spec else None


def files_stamp(*files: str | None) -> list[object]:
    """Size and modification time of each file: what an upgrade or an edit changes."""
    stamp: list[object] = [FORMAT]
    for file in files:
        try:
            info = os.stat(file) if file else None
        except OSError:
            info = None
        stamp.append([info.st_size, info.st_mtime_ns] if info else None)
    return stamp


class Memo:
    """Text -> value, from `<cache folder>/<kind>/<name>`; `get` and `put`, then `save`."""

    def __init__(self, kind: str, name: str, stamp: list[object], *, keep: int) -> None:
        folder = cache_folder(kind)
        self.path = folder / name if folder else None
        self.stamp = stamp
        self.keep = keep
        """Entries kept; beyond that, only those used since the last save."""
        self.known: dict[str, bytes] | None = None
        self.used: set[str] = set()
        self.new = False

    def get(self, key: str) -> Any:
        """A new copy of the stored value, or None."""
        if self.known is None:
            self.known = self._load()
        self.used.add(key)
        stored = self.known.get(key)
        try:
            return pickle.loads(stored) if isinstance(stored, bytes) else None
        except Exception:  # made by other code
            return None

    def put(self, key: str, value: Any) -> None:
        """Store a copy of `value` as it is now: what the caller does with it later is not kept."""
        if self.known is None:
            self.known = self._load()
        self.used.add(key)
        self.known[key] = pickle.dumps(value, protocol=5)
        self.new = True

    def _load(self) -> dict[str, bytes]:
        if self.path is None:
            return {}
        try:
            with self.path.open("rb") as handle:
                data = pickle.load(handle)
        except Exception:  # missing, half-written by a crash, or made by other code
            return {}
        if not isinstance(data, dict) or data.get("stamp") != self.stamp:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def save(self) -> None:
        """Write the file if anything was added; a failure only costs the memo."""
        used, self.used = self.used, set()
        if not self.new or self.known is None or self.path is None:
            return
        if len(self.known) > self.keep:
            self.known = {key: self.known[key] for key in used if key in self.known}
        self.new = False
        try:
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.path.parent, prefix=".tmp-", delete=False
            ) as handle:
                try:
                    pickle.dump({"stamp": self.stamp, "entries": self.known}, handle, protocol=5)
                    handle.close()
                    os.replace(handle.name, self.path)
                except OSError:
                    os.unlink(handle.name)
                    raise
        except OSError:
            return
