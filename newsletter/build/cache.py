"""The per-user folder for what is slow to compute and cheap to keep.

Compiled templates and parsed stylesheets live here, each under a hash of everything it was made
from, so a stale entry is never read and deleting the folder is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path


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
