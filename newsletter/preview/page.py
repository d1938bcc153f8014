"""The preview tool's own page for one view of a snapshot (not the email: that is in iframes)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from newsletter.preview.snapshot import VIEWS, VIEWS_BY_NAME, Snapshot, View

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _page_env() -> jinja2.Environment:
    """Made once, on the first page: `newsletter preview --help` need not import Jinja."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("newsletter.preview", "assets"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(snapshot: Snapshot, *, view: str = "", width: str = "") -> str:
    """The preview page for one view; everything from content is escaped by Jinja.

    An unknown view or width (a hand-typed URL) falls back to the view's default.
    """
    chosen = VIEWS_BY_NAME.get(view, VIEWS[0])
    if width not in chosen.widths:
        width = chosen.default_width
    findings = snapshot.findings or ()
    errors = sum(1 for f in findings if f.severity == "error")
    return (
        _page_env()
        .get_template("preview.html")
        .render(
            s=snapshot,
            view=chosen,
            width=width,
            views=VIEWS,
            built=time.strftime("%H:%M:%S", time.localtime(snapshot.built_at)),
            errors=errors,
            warnings=len(findings) - errors + len(snapshot.warnings),
            frame_title=_frame_title(chosen, width),
        )
    )


def _frame_title(view: View, width: str) -> str:
    size = "at desktop width" if width == "desktop" else f"on a {width} px wide phone"
    return f"The email {size}: {view.label}"
