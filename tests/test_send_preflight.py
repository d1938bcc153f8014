"""Before a live send: `check`, the sender's domain and the published web version, or no send."""

from __future__ import annotations

from pathlib import Path

import pytest
from smtp_sink import Sink
from static_site import add_article_image, configure, serving

from newsletter.build.pipeline import render_workspace
from newsletter.check.preflight import preflight
from newsletter.load.loader import load_workspace
from newsletter.mail import database, subscribers
from newsletter.workspace import Paths

SENDER = "dustin@sample-bodywork.net"


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch):
    with Sink() as server:
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", server.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(server.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        yield server


@pytest.fixture
def readers(workspace: Path) -> list[str]:
    conn = database.connect(workspace / "data" / "newsletter.db")
    emails = ["ann@example.org", "bo@example.org"]
    for address in emails:
        subscribers.add(conn, address, consent="test fixture")
    conn.close()
    return emails


@pytest.fixture
def site(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An HTTPS server for tmp_path/site as base_url; the workspace has an article image."""
    add_article_image(workspace)
    with serving(tmp_path / "site", tmp_path, monkeypatch) as (url, log):
        configure(workspace, base_url=url, sender=SENDER)
        yield tmp_path / "site", log


def test_the_example_sender_stops_a_live_send(cli, sink, readers, workspace) -> None:
    """example.com is only a warning for `check`, but mail from it is rejected: no send."""
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 1
    assert result.stderr == (
        "content/newsletter.toml:17: error: example.com is a reserved example domain; mail "
        "from it is rejected [sender-domain]\n"
        "    fix: set [sender] email to an address at your own domain before sending\n"
        "Not sending 2026-12: 1 error. Fix them (`newsletter check` lists them too), or add "
        "--skip-check to send anyway.\n"
    )
    assert result.stdout == ""
    assert sink.received == []


def test_check_errors_stop_a_live_send_and_are_listed(cli, sink, readers, workspace) -> None:
    """A left-over TODO is a `check` error: the live send lists it and sends nothing."""
    configure(workspace, sender=SENDER)
    article = workspace / "content/articles/restless-legs-massage.md"
    article.write_text(article.read_text() + "\nTODO: finish this paragraph.\n")
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 1
    assert "error: draft marker 'TODO' is still in the email [draft-marker]" in result.stderr
    assert result.stderr.endswith("add --skip-check to send anyway.\n")
    assert sink.received == []


def test_skip_check_sends_anyway_and_says_so(cli, sink, readers, workspace) -> None:
    """--skip-check: the errors are still listed, then a loud line, then the send."""
    result = cli("send", "2026-12", "--yes", "--offline", "--skip-check")
    assert result.exit_code == 0, result.output
    assert "[sender-domain]" in result.stderr
    assert "WARNING: --skip-check: SENDING 2026-12 DESPITE 1 ERROR." in result.stderr
    assert sorted(sink.counts()) == readers


@pytest.mark.parametrize(
    "sender",
    ["a@example.com", "a@example.net", "a@example.org", "a@mail.test", "a@shop.example",
     "a@x.invalid", "a@mail.localhost"],
)  # fmt: skip
def test_reserved_domains_block_a_live_send_only(workspace, sender: str) -> None:
    """Every reserved example domain is an error for a live send, and none for a test send."""
    configure(workspace, sender=sender)
    paths = Paths(workspace)
    _, rendered = render_workspace(paths)
    live = preflight(rendered, workspace=load_workspace(paths), scope="live", offline=True)
    assert [f.rule for f in live.blocking] == ["sender-domain"]
    test = preflight(rendered, workspace=load_workspace(paths), scope="test", offline=True)
    assert test.blocking == ()


def test_an_own_domain_passes(workspace) -> None:
    """The example with a real sender has nothing that blocks a send."""
    configure(workspace, sender=SENDER)
    paths = Paths(workspace)
    _, rendered = render_workspace(paths)
    verdict = preflight(rendered, workspace=load_workspace(paths), scope="live", offline=True)
    assert verdict == ((), ())


def test_an_unpublished_web_version_stops_a_live_send(cli, sink, readers, site) -> None:
    """base_url does not have this issue yet: the web version and its image are named."""
    _folder, log = site
    result = cli("send", "2026-12", "--yes")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("content/newsletter.toml:10: error: https://127.0.0.1:")
    assert lines[0].endswith(
        "/issues/2026-12/ does not answer (HTTP 404 File not found): subscribers would see a "
        "broken 'view in browser' link [not-published]"
    )
    assert lines[2].endswith(
        "/issues/2026-12/images/legs.png does not answer (HTTP 404 File not found): "
        "subscribers would see a broken image [not-published]"
    )
    assert "Not sending 2026-12: 2 errors." in result.stderr
    assert sink.received == []
    assert sorted(log) == ["HEAD /issues/2026-12/", "HEAD /issues/2026-12/images/legs.png"]


def test_once_published_the_live_send_goes(cli, sink, readers, site) -> None:
    """build, publish to the folder base_url serves, send: the check asks and finds them."""
    folder, log = site
    assert cli("build").exit_code == 0
    assert cli("publish", "--to", str(folder)).exit_code == 0
    result = cli("send", "2026-12", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(sink.counts()) == readers
    assert "HEAD /issues/2026-12/images/legs.png" in log


def test_offline_skips_asking_base_url(cli, sink, readers, site) -> None:
    """--offline: base_url is not asked at all, on purpose."""
    _folder, log = site
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 0, result.output
    assert log == []


def test_a_test_send_is_never_refused(cli, sink, workspace, site) -> None:
    """Reserved sender and nothing published: a test send still goes, with the warnings."""
    configure(workspace, sender="dustin@example.com")
    result = cli("send", "2026-12", "--test", "me@example.com")
    assert result.exit_code == 0, result.output
    assert sink.counts() == {"me@example.com": 1}
    assert "1 warning: sender-domain (`newsletter check 2026-12` explains them)." in result.stderr


def test_warnings_are_named_before_a_live_send(cli, sink, readers, workspace) -> None:
    """Warnings do not stop a send; the line before it names them."""
    configure(workspace, sender="dustin@gmail.com")
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 0, result.output
    assert result.stderr == "1 warning: sender-domain (`newsletter check 2026-12` explains them).\n"


def test_a_test_send_names_what_a_live_send_would_refuse(cli, sink, workspace) -> None:
    """A TODO does not stop a test send; the line before it says a live send would stop."""
    article = workspace / "content/articles/restless-legs-massage.md"
    article.write_text(article.read_text() + "\nTODO: finish this paragraph.\n")
    result = cli("send", "2026-12", "--test", "me@example.com")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "1 error a live send would refuse: draft-marker; 1 warning: sender-domain "
        "(`newsletter check 2026-12` explains them).\n"
    )
    assert sink.counts() == {"me@example.com": 1}


def test_the_confirmation_line_names_the_warnings(cli, sink, readers, workspace, monkeypatch):
    """At a terminal, the question itself says how many warnings there are and which."""
    import click.testing

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True)
    configure(workspace, sender="dustin@gmail.com")
    result = cli("send", "2026-12", "--offline", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Send to 2 subscriber(s) (1 warning: sender-domain)? [y/N]: y\n" in result.stdout
    assert sorted(sink.counts()) == readers
