"""The service's pages: templates/web/*.html in the newsletter's language and brand colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from newsletter.model import Config

TITLES = {
    400: "This link does not work",
    404: "Page not found",
    413: "Too much data",
    405: "Not allowed",
    415: "Not a form",
    429: "Too many tries",
    500: "Something went wrong",
}


class Pages:
    """Renders a named page with the config, the brand and what the page needs."""

    def __init__(self, templates: Path, *, config: Config):
        self.config = config
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates / "web")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
        )
        self._errors: dict[int, bytes] = {}
        css = self.env.get_template("style.css").render(brand=config.brand)
        self.style = markupsafe.Markup(css)
        """Rendered once: it is the same on every page, and most of each page's cost."""

    def render(self, template_name: str, /, **context: Any) -> str:
        template = self.env.get_template(f"{template_name}.html")
        return template.render(
            config=self.config, brand=self.config.brand, style=self.style, **context
        )

    def error(self, status: int) -> bytes:
        """An error page's bytes, rendered once per status."""
        if status not in self._errors:
            html = self.render("error", status=status, title=TITLES.get(status, "Error"))
            self._errors[status] = html.encode("utf-8")
        return self._errors[status]


def mask(address: str) -> str:
    """jane.doe@example.org -> ja•••@ex•••.org: enough to recognise, not to harvest."""
    local, _, domain = address.rpartition("@")
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""

    def part(text: str) -> str:
        keep = 1 if len(text) <= 3 else 2
        return text[:keep] + "•••"

    return f"{part(local)}@{part(name)}{dot}{tld}"
