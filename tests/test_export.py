"""Exporting with another service's merge tags."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("style", "first_name", "unsubscribe"),
    [
        ("mailchimp", "*|FNAME|*", "*|UNSUB|*"),
        ("listmonk", "{{ .Subscriber.FirstName }}", "{{ UnsubscribeURL }}"),
        ("buttondown", "{{ subscriber.metadata.first_name }}", "{{ unsubscribe_url }}"),
        ("native", "%%first_name%%", "%%unsubscribe_url%%"),
    ],
)
def test_export_writes_the_service_merge_tags(
    cli, workspace: Path, tmp_path: Path, style, first_name, unsubscribe
) -> None:
    out = tmp_path / "out"
    result = cli("export", "2026-12", "--format", style, "--out", str(out))
    assert result.exit_code == 0, result.output
    html = (out / "email.html").read_text()
    text = (out / "email.txt").read_text()
    assert f"Hello {first_name}," in html and f"Hello {first_name}," in text
    assert f'href="{unsubscribe}"' in html
    assert f"Unsubscribe: {unsubscribe}" in text
    assert "nlph." not in html + text


def test_export_needs_a_known_format(cli) -> None:
    result = cli("export", "--format", "sendgrid")
    assert result.exit_code == 2
