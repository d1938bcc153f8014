"""Start the service under uvicorn on the workspace's config, database and secret."""

from __future__ import annotations

from newsletter.load.config import load_config
from newsletter.web.app import create_app
from newsletter.web.site import Site
from newsletter.workspace import Paths, load_secret, load_smtp_password


def make_site(paths: Paths) -> Site:
    """The service's state, with its emails rendered now: a mistake in the templates or in
    content/welcome.md stops the start with path:line, not the first signup."""
    config = load_config(paths)
    site = Site(
        paths,
        config,
        secret=load_secret(paths),
        smtp_password=load_smtp_password(paths) or config.smtp.password,
    )
    try:
        site.email("confirm")
        site.email("welcome")
    except BaseException:
        site.close()
        raise
    return site


def serve(site: Site, *, host: str, port: int, on_ready: str = "") -> None:
    """Serve until SIGINT/SIGTERM; uvicorn's own access log is off (the proxy keeps one)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(site),
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
