"""The per-user folder for what is slow to compute and cheap to keep.

Compiled templates and parsed stylesheets live here, each under a hash of everything it was made
from, so a stale entry is never read and deleting the folder is always safe. The folder itself
is found by newsletter/load/memo.py, which keeps parsed content there too.
"""

from __future__ import annotations

from newsletter.load.memo import cache_folder

__all__ = ["cache_folder"]
