"""newsletter.toml: every mistake reported at once, each with its line and exact wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import NewsletterError
from newsletter.load.config import load_config, parse_config
from newsletter.workspace import Paths, load_secret

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "tests" / "fixtures" / "example" / "content" / "newsletter.toml").read_text(
    encoding="utf-8"
)


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(NewsletterError) as caught:
        parse_config(text, env=env or {})
    return [str(p) for p in caught.value.problems]


def test_example_config_loads() -> None:
    """The shipped example is valid and keeps its values."""
    config = parse_config(EXAMPLE, env={})
    assert config.title == "Notes from the Table"
    assert config.booking_url.startswith("https://")
    assert config.base_url == "https://news.example.org"
    assert config.smtp.password == ""


def test_toml_syntax_error_names_the_line() -> None:
    """A TOML mistake is one problem with the line tomllib found."""
    text = EXAMPLE.replace('title = "Notes from the Table"', 'title = "Notes from the Table')
    line = EXAMPLE.splitlines().index('title = "Notes from the Table"') + 1
    [problem] = problems_of(text)
    assert problem.startswith(f"content/newsletter.toml:{line}: TOML syntax error:")


def test_unknown_key_suggests_the_known_one() -> None:
    text = EXAMPLE.replace("tagline =", "tagLine =")
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("tagLine"))
    assert problems_of(text) == [
        f"content/newsletter.toml:{line}: unknown key newsletter.tagLine (did you mean 'tagline'?)"
    ]


def test_password_in_file_is_refused_naming_the_variable() -> None:
    text = EXAMPLE.replace('username = ""', 'username = ""\npassword = "hunter2"')
    [problem] = problems_of(text)
    assert "smtp.password: secrets never go in content/" in problem
    assert "NEWSLETTER_SMTP_PASSWORD" in problem


def test_non_http_booking_url() -> None:
    text = EXAMPLE.replace(
        'url = "https://booking.example.com/sample-bodywork"', 'url = "javascript:alert(1)"'
    )
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "javascript:" in l)
    assert problems_of(text) == [
        f"content/newsletter.toml:{line}: booking.url: expected an http(s) URL, got 'javascript:alert(1)'"
    ]


def test_missing_postal_address_and_sender_reported_together() -> None:
    """Every problem comes in one run: no fix-one-rerun loop."""
    text = "\n".join(
        line for line in EXAMPLE.splitlines() if not line.startswith(("postal_address", "name ="))
    )
    problems = problems_of(text)
    assert any("missing sender.postal_address: anti-spam law" in p for p in problems)
    assert any("missing sender.name" in p for p in problems)
    assert all(p.startswith("content/newsletter.toml:") for p in problems)


def test_newline_in_header_field() -> None:
    text = EXAMPLE.replace('title = "Notes from the Table"', 'title = "Notes\\nBcc: x@example.com"')
    [problem] = problems_of(text)
    assert "newsletter.title: must be one line" in problem


def test_low_contrast_brand_is_an_error() -> None:
    """Colours failing WCAG AA can't be configured, so every email stays readable."""
    text = EXAMPLE.replace('accent = "#2d5a4c"', 'accent = "#9fd3c7"')
    problems = problems_of(text)
    assert any(
        "brand.accent on brand.surface: contrast" in p and "below WCAG AA" in p for p in problems
    )


def test_pure_black_text_is_refused() -> None:
    text = EXAMPLE.replace('text = "#26302c"', 'text = "#000000"')
    assert any("pure black or white text inverts badly" in p for p in problems_of(text))


def test_wrong_types_and_unknown_section() -> None:
    text = EXAMPLE.replace("port = 587", 'port = "587"') + "\n[sendr]\nrate = 1\n"
    problems = problems_of(text)
    assert any("smtp.port: expected a whole number, got '587'" in p for p in problems)
    assert any("unknown section [sendr] (did you mean 'sender'?)" in p for p in problems)


def test_unsubscribe_needs_a_way() -> None:
    text = EXAMPLE.replace('mailto = "unsubscribe@example.com"\n', "").replace(
        'url = "https://news.example.org/unsubscribe"\n', ""
    )
    assert any("missing unsubscribe.url or unsubscribe.mailto" in p for p in problems_of(text))


def test_unsubscribe_url_must_be_https() -> None:
    text = EXAMPLE.replace(
        "https://news.example.org/unsubscribe", "http://news.example.org/unsubscribe"
    )
    assert any("unsubscribe.url: expected an https:// URL" in p for p in problems_of(text))


def test_smtp_environment_overrides() -> None:
    config = parse_config(
        EXAMPLE,
        env={
            "NEWSLETTER_SMTP_HOST": "smtp.example.net",
            "NEWSLETTER_SMTP_PORT": "2525",
            "NEWSLETTER_SMTP_SECURITY": "ssl",
            "NEWSLETTER_SMTP_USERNAME": "me",
            "NEWSLETTER_SMTP_PASSWORD": "pw",
        },
    )
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == (
        "smtp.example.net",
        2525,
        "ssl",
    )
    assert (config.smtp.username, config.smtp.password) == ("me", "pw")


def test_bad_smtp_environment_override() -> None:
    problems = problems_of(
        EXAMPLE, env={"NEWSLETTER_SMTP_PORT": "smtp", "NEWSLETTER_SMTP_SECURITY": "tls"}
    )
    assert "NEWSLETTER_SMTP_PORT: expected a port from 1 to 65535, got 'smtp'" in problems
    assert "NEWSLETTER_SMTP_SECURITY: expected one of starttls, ssl, none, got 'tls'" in problems


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    first = load_secret(paths, env={})
    assert load_secret(paths, env={}) == first
    assert (tmp_path / "data" / "secret").stat().st_mode & 0o077 == 0
    assert load_secret(paths, env={"NEWSLETTER_SECRET": "k" * 32}) == "k" * 32


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(NewsletterError) as caught:
        load_config(Paths(tmp_path), env={})
    assert str(caught.value) == "content/newsletter.toml: file not found"


def test_the_smtp_password_never_shows_in_a_repr() -> None:
    """Config objects end up in tracebacks (--debug) and logs; the password must not."""
    from newsletter.model import SmtpSettings

    smtp = SmtpSettings(host="mail.example.org", username="me", password="hunter2-secret")
    assert "hunter2-secret" not in repr(smtp)
    assert repr(smtp).startswith("SmtpSettings(host='mail.example.org', port=587")
    assert "username='me'" in repr(smtp)
    assert smtp.password == "hunter2-secret"
