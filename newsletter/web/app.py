"""The web application: one route table, the guard around it, error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from newsletter.web import signup, unsubscribe
from newsletter.web.archive import Archive
from newsletter.web.security import Guard
from newsletter.web.site import Site


def routes(site: Site) -> list[BaseRoute]:
    """Every URL the service answers; GET routes answer HEAD too, and change nothing."""
    table: list[BaseRoute] = [
        Route(site.unsubscribe_path, unsubscribe.unsubscribe, methods=["GET", "POST"]),
        Route("/resubscribe", signup.resubscribe, methods=["POST"]),
        Route("/subscribe", signup.subscribe, methods=["GET", "POST"]),
        Route("/confirm", signup.confirm, methods=["GET", "POST"]),
    ]
    if site.config.web.serve_archive:
        table.append(Mount("/", Archive(site.paths.dist)))
    return table


def create_app(site: Site) -> Guard:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        site.db.start_checkpoints()
        try:
            yield
        finally:
            site.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return Response(
                site.pages.error(405),
                405,
                media_type="text/html",
                headers=getattr(exc, "headers", None),
            )
        return Response(site.pages.error(status), status, media_type="text/html")

    async def internal_error(request: Request, exc: Exception) -> Response:
        site.log(f"internal error: {type(exc).__name__}: {exc}")
        return Response(site.pages.error(500), 500, media_type="text/html")

    app = Starlette(
        routes=routes(site),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.site = site
    return Guard(app, hosts=site.hosts, page=site.pages.error)
