"""Before a send: the `check` rules, the sender's domain and whether the web version is up.

A live send is refused on any error `newsletter check` reports, on a sender at a reserved
example domain, and when this issue's web version or one of its images does not answer at
base_url (subscribers would see broken images). Test sends and dry runs are never refused:
what would stop a live send is shown to them as warnings.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from urllib.parse import quote

from newsletter.check import check_rendered, sort_findings
from newsletter.check.base import ERROR, WARNING, Finding
from newsletter.check.rules.compliance import RESERVED
from newsletter.check.rules.links import probe
from newsletter.load.loader import Workspace
from newsletter.model import Config, Rendered
from newsletter.workspace import CONFIG_NAME, Paths

TIMEOUT = 5.0
"""Seconds to wait for each published URL: a web server that is up answers far sooner."""


class Verdict(NamedTuple):
    """What stops the send (empty: go ahead) and what the confirmation line mentions."""

    blocking: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


def preflight(
    rendered: Rendered,
    /,
    *,
    workspace: Workspace,
    scope: str,
    offline: bool = False,
    timeout: float = TIMEOUT,
) -> Verdict:
    """Everything that must hold before `scope` ("live", "test", "dry-run") goes out.

    `workspace` is what the issue was rendered from (loaded once, by the send). `offline` skips
    asking base_url (the practitioner knows it is not reachable from here).
    """
    live = scope == "live"
    config, paths = workspace.config, workspace.paths
    findings = check_rendered(workspace, rendered)
    if live:
        findings = [_reserved_sender_is_an_error(f, config) for f in findings]
        if not offline:
            findings += check_published(rendered, config=config, paths=paths, timeout=timeout)
    findings = sort_findings(findings)
    if not live:
        return Verdict((), tuple(findings))
    return Verdict(
        tuple(f for f in findings if f.severity == ERROR),
        tuple(f for f in findings if f.severity == WARNING),
    )


def _reserved_sender_is_an_error(finding: Finding, config: Config) -> Finding:
    """`check` warns about an example.com sender; mail from it is rejected, so a live send stops."""
    domain = config.sender_email.rpartition("@")[2].lower().rstrip(".")
    if finding.rule != "sender-domain" or not RESERVED.search(domain):
        return finding
    return dataclasses.replace(finding, severity=ERROR)


def published_urls(rendered: Rendered, /, *, config: Config, paths: Paths) -> list[str]:
    """The web version and every local image of the issue, where the email points for them."""
    issue = f"{config.base_url}/issues/{rendered.issue.id}/"
    from newsletter.load.references import images_folder

    images = images_folder(paths)
    return [issue] + [
        f"{issue}images/{quote(image.relative_to(images).as_posix())}" for image in rendered.images
    ]


def check_published(
    rendered: Rendered, /, *, config: Config, paths: Paths, timeout: float = TIMEOUT
) -> list[Finding]:
    """One error per published URL that does not answer (HEAD, then GET; short timeout)."""
    urls = published_urls(rendered, config=config, paths=paths)
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        answers = list(pool.map(lambda url: probe(url, timeout), urls))
    line = config.lines.get("newsletter.base_url")
    return [
        Finding(
            "not-published",
            ERROR,
            CONFIG_NAME,
            line,
            f"{url} does not answer ({detail}): subscribers would see "
            + ("a broken 'view in browser' link" if url.endswith("/") else "a broken image"),
            "publish dist/ first (`newsletter build`, then `newsletter publish --to ...`), "
            "or add --offline if base_url cannot be reached from this machine",
            rendered.issue.id,
        )
        for url, (status, detail) in zip(urls, answers, strict=True)
        if status != "ok"
    ]
