"""[inbox] settings, their environment overrides, the IMAP password, and what a missing one says."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import NewsletterError
from newsletter.load.config import parse_config
from newsletter.model import InboxSettings
from newsletter.workspace import Paths, load_imap_password

BASE = (
    Path(__file__).resolve().parent / "fixtures" / "example" / "content" / "newsletter.toml"
).read_text()


def config(extra: str = "", env: dict[str, str] | None = None):
    return parse_config(BASE + extra, env=env or {})


def problems(extra: str = "", env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(NewsletterError) as caught:
        config(extra, env)
    return [str(p) for p in caught.value.problems]


def test_without_an_inbox_section_the_defaults_apply() -> None:
    """No [inbox]: nothing to read yet, TLS on 993, INBOX into Newsletter/Processed."""
    assert config().inbox == InboxSettings()
    assert InboxSettings().processed_folder == "Newsletter/Processed"


def test_inbox_keys_are_read_and_the_port_follows_the_security() -> None:
    """Every [inbox] key is read; without a port, starttls and none use 143, ssl 993."""
    inbox = config(
        '\n[inbox]\nhost = "imap.example.org"\nusername = "dustin"\nsecurity = "starttls"\n'
        'folder = "Bounces"\nprocessed_folder = "Done/Newsletter"\ntimeout = 5\n'
    ).inbox
    assert inbox == InboxSettings(
        host="imap.example.org",
        port=143,
        security="starttls",
        username="dustin",
        folder="Bounces",
        processed_folder="Done/Newsletter",
        timeout=5.0,
    )


def test_the_environment_overrides_each_setting() -> None:
    """NEWSLETTER_IMAP_HOST, _PORT, _USERNAME, _SECURITY and _FOLDER win over the file."""
    env = {
        "NEWSLETTER_IMAP_HOST": "127.0.0.1",
        "NEWSLETTER_IMAP_PORT": "1143",
        "NEWSLETTER_IMAP_USERNAME": "test",
        "NEWSLETTER_IMAP_SECURITY": "none",
        "NEWSLETTER_IMAP_FOLDER": "Other",
    }
    inbox = config('\n[inbox]\nhost = "imap.example.org"\nport = 993\n', env).inbox
    assert (inbox.host, inbox.port, inbox.username, inbox.security, inbox.folder) == (
        "127.0.0.1",
        1143,
        "test",
        "none",
        "Other",
    )


def test_bad_environment_values_are_reported_by_name() -> None:
    """A wrong port or security in the environment names the variable."""
    assert problems(env={"NEWSLETTER_IMAP_PORT": "imap", "NEWSLETTER_IMAP_SECURITY": "tls"}) == [
        "NEWSLETTER_IMAP_PORT: expected a port from 1 to 65535, got 'imap'",
        "NEWSLETTER_IMAP_SECURITY: expected one of ssl, starttls, none, got 'tls'",
    ]


def test_a_password_in_the_file_is_refused_naming_the_variable() -> None:
    """The IMAP password never lives in content/: the error says where it goes instead."""
    (message,) = problems('\n[inbox]\nhost = "imap.example.org"\npassword = "hunter2"\n')
    assert message.endswith(
        "inbox.password: secrets never go in content/; remove it and set the environment "
        "variable NEWSLETTER_IMAP_PASSWORD (or put it in data/, which git ignores)"
    )


def test_unknown_and_mistyped_inbox_keys_are_errors() -> None:
    """A typo gets a did-you-mean; a wrong type or security value says what was expected."""
    found = problems('\n[inbox]\nhots = "x"\nport = "993"\nsecurity = "tls"\n')
    assert [m.split(": ", 1)[1] for m in found] == [
        "unknown key inbox.hots (did you mean 'host'?)",
        "inbox.port: expected a whole number, got '993'",
        "inbox.security: expected one of ssl, starttls, none, got 'tls'",
    ]


def test_the_password_comes_from_the_environment_else_data(tmp_path: Path) -> None:
    """NEWSLETTER_IMAP_PASSWORD first, then data/imap_password, else empty."""
    paths = Paths(tmp_path)
    assert load_imap_password(paths, {}) == ""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "imap_password").write_text("from-file\n")
    assert load_imap_password(paths, {}) == "from-file"
    assert load_imap_password(paths, {"NEWSLETTER_IMAP_PASSWORD": "env"}) == "env"


def test_the_password_is_never_in_the_repr() -> None:
    """Settings can be logged without leaking the password."""
    assert "hunter2" not in repr(InboxSettings(password="hunter2"))


def test_inbox_without_settings_says_what_is_missing(cli) -> None:
    """No host, user or password: one message naming each, exit 1, before any connection."""
    result = cli("inbox")
    assert result.exit_code == 1
    assert result.stderr == (
        "inbox: inbox.host is not set; inbox.username is not set; no password: set "
        "NEWSLETTER_IMAP_PASSWORD or write it to data/imap_password (see [inbox] in "
        "content/newsletter.toml)\nFound 1 error.\n"
    )


def test_reading_and_filing_in_the_same_folder_is_refused(cli, monkeypatch) -> None:
    """processed_folder equal to folder would re-read filed mail: a settings error."""
    monkeypatch.setenv("NEWSLETTER_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSLETTER_IMAP_USERNAME", "u")
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "p")
    monkeypatch.setenv("NEWSLETTER_IMAP_FOLDER", "Newsletter/Processed")
    result = cli("inbox")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "inbox: inbox.folder and inbox.processed_folder are both 'Newsletter/Processed'"
    )
