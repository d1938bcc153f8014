"""The built site (dist/): archive index, web versions, images, feed, with caching headers."""

from __future__ import annotations

import os
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

LONG = "public, max-age=604800"
"""Images never change under the same name once an issue is out."""
SHORT = "public, max-age=300"
"""Pages and the feed change when an issue is published: caches ask again after 5 minutes
(ETag and Last-Modified make that question cheap)."""
_PRIVATE = ("message.eml", "email.html", "email.txt")
"""The sample message is addressed to the sender, with their own unsubscribe link; the raw
email files hold placeholders. The web version is index.html."""


class Archive(StaticFiles):
    def __init__(self, directory: os.PathLike[str] | str):
        super().__init__(directory=directory, html=True, check_dir=False, follow_symlink=False)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        parts = path.replace(os.sep, "/").split("/")
        if parts[-1] in _PRIVATE or any(p.startswith(".") and p != "." for p in parts):
            return "", None
        return super().lookup_path(path)

    def file_response(
        self, full_path: Any, stat_result: os.stat_result, scope: Any, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        name = str(full_path)
        cache = SHORT if name.endswith((".html", ".xml")) else LONG
        response.headers["cache-control"] = cache
        if name.endswith(".xml"):
            response.headers["content-type"] = "application/atom+xml; charset=utf-8"
        return response
