"""`check` warns when the unsubscribe URL is on another host than the site serve answers."""

from __future__ import annotations


def test_check_warns_when_the_unsubscribe_host_differs_from_base_url(cli, workspace) -> None:
    """Links already in emails must reach `newsletter serve`: say so when the hosts differ."""
    config = workspace / "content/newsletter.toml"
    text = config.read_text().replace(
        'url = "https://news.example.org/unsubscribe"', 'url = "https://mail.example.net/u"'
    )
    config.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "mail.example.net" in t)
    result = cli("check")
    assert (
        f"content/newsletter.toml:{line}: warning: [unsubscribe] url is on mail.example.net, "
        "not base_url's news.example.org: `newsletter serve` answers it only if that host also "
        "reaches it [unsubscribe-host]"
    ) in result.output


def test_check_is_quiet_when_the_hosts_match(cli) -> None:
    assert "unsubscribe-host" not in cli("check").output
