"""The service's pure parts: opaque tokens, client addresses, limits, masking, signups."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from conftest import EXAMPLE, TEST_SECRET
from hypothesis import given
from hypothesis import strategies as st

from newsletter import tokens
from newsletter.mail import database, schema, subscribers
from newsletter.mail.schema import MIGRATIONS
from newsletter.web import signups
from newsletter.web.clientaddr import client_address, networks
from newsletter.web.pages import mask
from newsletter.web.ratelimit import SlidingWindow
from newsletter.web.security import host_name

SECRET = "a-test-secret"
LOCAL = networks(["127.0.0.1", "::1"])

ids = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)


@given(ident=ids, purpose=st.sampled_from(tokens.PURPOSES))
def test_an_opaque_token_reads_back_its_id_and_names_nobody(ident: str, purpose: str) -> None:
    token = tokens.sign_id(ident, SECRET, purpose=purpose)
    assert tokens.read(token, SECRET, purpose=purpose) == tokens.Verified("id", ident)
    assert "@" not in token and len(token) < 60


@given(ident=ids, position=st.integers(min_value=0), data=st.data())
def test_changing_any_character_of_an_opaque_token_breaks_it(
    ident: str, position: int, data: st.DataObject
) -> None:
    """Any one-character change fails, or (base64 padding bits) still names the same id."""
    token = tokens.sign_id(ident, SECRET)
    index = position % len(token)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    forged = (
        token[:index]
        + data.draw(st.sampled_from(alphabet.replace(token[index], "")))
        + token[index + 1 :]
    )
    try:
        result = tokens.read(forged, SECRET)
    except tokens.InvalidToken:
        return
    assert result.value == ident


def test_a_token_for_one_purpose_is_refused_for_another() -> None:
    """A confirmation link cannot be replayed as an unsubscribe link, nor the reverse."""
    ident = tokens.new_id()
    with pytest.raises(tokens.InvalidToken):
        tokens.read(tokens.sign_id(ident, SECRET, purpose="confirm"), SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.read(tokens.sign_id(ident, SECRET), SECRET, purpose="confirm")
    with pytest.raises(tokens.InvalidToken):
        tokens.read(tokens.sign("a@example.org", SECRET), SECRET, purpose="confirm")


def test_old_tokens_read_as_the_address_they_carry() -> None:
    assert tokens.read(tokens.sign("Ann@Example.org", SECRET), SECRET) == tokens.Verified(
        "address", "ann@example.org"
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: its header is ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client wrote 6.6.6.6
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),  # two proxies of ours
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1, junk", "127.0.0.1"),
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_address(peer, forwarded, LOCAL) == expected


def test_a_sliding_window_allows_the_limit_then_refuses_until_hits_age() -> None:
    window = SlidingWindow(3, 60)
    assert [window.hit("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert window.hit("b", now=3)  # another client has its own count
    assert window.hit("a", now=60.5)  # the first hit is older than a minute now
    assert SlidingWindow(0, 60).hit("a")


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@example.org", "ja•••@ex•••.org"),
        ("bo@ex.co", "b•••@e•••.co"),
        ("a@localhost", "a•••@lo•••"),
    ],
)
def test_addresses_on_pages_are_partly_masked(address: str, masked: str) -> None:
    assert mask(address) == masked


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("News.Example.org", "news.example.org"),
        ("news.example.org:8443", "news.example.org"),
        ("[::1]:8080", "[::1]"),
        ("", ""),
    ],
)
def test_host_names_lose_their_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_the_migration_gives_existing_subscribers_distinct_opaque_ids(tmp_path: Path) -> None:
    """Rows from before the migration are backfilled; new rows get an id by trigger."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    database.migrate(conn, MIGRATIONS[:2])
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, consent, consent_at, created_at, updated_at)"
        " VALUES (?, ?, 'x', '', '', '')",
        [(f"r{i}@example.org", f"r{i}@example.org") for i in range(50)],
    )
    conn.close()
    conn = database.connect(path)
    subscribers.add(conn, "new@example.org", consent="asked")
    found = [r[0] for r in conn.execute("SELECT token_id FROM subscribers")]
    conn.close()
    assert len(found) == len(set(found)) == 51
    assert all(isinstance(i, bytes) and len(i) == 12 for i in found)


def test_ids_stored_as_hex_keep_working_once_stored_as_bytes(tmp_path: Path) -> None:
    """Links sent before the ids were kept as bytes name the same subscribers after."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    version = MIGRATIONS.index(schema.subscriber_tokens_v2_bytes)
    database.migrate(conn, MIGRATIONS[:version])
    for i in range(20):
        conn.execute(
            "INSERT INTO subscribers (email, email_key, consent, consent_at, created_at,"
            " updated_at) VALUES (?, ?, 'x', '', '', '')",
            (f"r{i}@example.org", f"r{i}@example.org"),
        )
    before = dict(conn.execute("SELECT email, token_id FROM subscribers").fetchall())
    links = {email: tokens.sign_id(ident, SECRET) for email, ident in before.items()}
    conn.execute(
        "UPDATE subscribers SET token_id = 'edited by hand' WHERE email = 'r0@example.org'"
    )
    del links["r0@example.org"]
    conn.close()
    conn = database.connect(path)
    fresh = conn.execute("SELECT token_id FROM subscribers WHERE email = 'r0@example.org'")
    assert len(fresh.fetchone()[0]) == 12  # a new id for one no link could carry
    for email, link in links.items():
        found = subscribers.by_token(conn, tokens.read(link, SECRET))
        assert found is not None and found.email == email
        assert subscribers.token_id_for(conn, email) == before[email]
    added = subscribers.add(conn, "new@example.org", consent="asked")
    new_id = subscribers.token_id_for(conn, added.email)
    assert new_id is not None and new_id not in before.values()
    assert subscribers.by_token(conn, tokens.read(tokens.sign_id(new_id, SECRET), SECRET)) == added
    conn.close()


def test_a_confirmation_link_expires_after_seven_days(tmp_path: Path) -> None:
    conn = database.connect(tmp_path / "db.sqlite")
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    signup = signups.start(conn, "late@example.org", name="", consent="yes", per_day=3, now=start)
    assert signup is not None
    late = start + dt.timedelta(days=7, seconds=1)
    assert signups.confirm(conn, signup.token_id, now=late) is None
    assert subscribers.get(conn, "late@example.org") is None
    in_time = start + dt.timedelta(days=6, hours=23)
    confirmed = signups.confirm(conn, signup.token_id, now=in_time)
    assert confirmed is not None and confirmed[0].status == "active"
    assert confirmed[0].consent_at == "2026-12-08T08:00:00Z"
    conn.close()


def test_import_never_reactivates_someone_who_left_through_the_web(tmp_path: Path) -> None:
    """Unsubscribed by one-click: a later CSV import of the address leaves them out."""
    conn = database.connect(tmp_path / "db.sqlite")
    found = subscribers.add(conn, "left@example.org", consent="asked")
    subscribers.unsubscribe(conn, found, via="one-click")
    counts = subscribers.import_rows(conn, [("left@example.org", "", "form")], source="csv")
    assert counts.skipped == 1
    assert subscribers.get(conn, "left@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    conn.close()


def test_the_unsubscribe_command_takes_opaque_tokens_from_a_mail_body(cli, workspace) -> None:
    """A mailto request carries the new token in its body: the command resolves it."""
    conn = database.connect(workspace / "data" / "newsletter.db")
    subscribers.add(conn, "mailto@example.org", consent="asked")
    ident = subscribers.token_id_for(conn, "mailto@example.org") or ""
    conn.close()
    token = tokens.sign_id(ident, TEST_SECRET)
    result = cli("unsubscribe", f"Please take me off.\n\n{token}\n")
    assert result.exit_code == 0
    assert result.stdout == "Unsubscribed mailto@example.org.\n"
    conn = database.connect(workspace / "data" / "newsletter.db")
    via = conn.execute("SELECT unsubscribed_via FROM subscribers").fetchone()[0]
    conn.close()
    assert via == "command line"


def test_web_settings_are_read_and_checked_with_the_config() -> None:
    """[web] keys: defaults, lists as tuples, and each mistake as path:line."""
    from newsletter.errors import NewsletterError
    from newsletter.load.config import parse_config
    from newsletter.model import WebSettings

    base = (EXAMPLE / "content" / "newsletter.toml").read_text()
    assert parse_config(base).web == WebSettings()
    good = parse_config(
        base + '\n[web]\nport = 9000\ntrusted_proxies = ["10.0.0.0/8"]\n'
        'signup_origins = ["https://www.example.org/"]\nserve_archive = false\n'
    ).web
    assert (good.port, good.trusted_proxies, good.signup_origins, good.serve_archive) == (
        9000,
        ("10.0.0.0/8",),
        ("https://www.example.org",),
        False,
    )
    first = len(base.splitlines()) + 3
    with pytest.raises(NewsletterError) as caught:
        parse_config(
            base + '\n[web]\ntrusted_proxies = ["proxy"]\nsignup_origins = ["www.example.org"]\n'
            'signups_per_hour = -1\nport = "x"\n'
        )
    assert [str(p) for p in caught.value.problems] == [
        f"content/newsletter.toml:{first}: web.trusted_proxies: expected an IP address or network "
        "like 127.0.0.1 or 10.0.0.0/8, got 'proxy'",
        f"content/newsletter.toml:{first + 1}: web.signup_origins: expected an origin like "
        "https://example.com, got 'www.example.org'",
        f"content/newsletter.toml:{first + 2}: web.signups_per_hour: must be 0 or more, got -1",
        f"content/newsletter.toml:{first + 3}: web.port: expected a whole number, got 'x'",
    ]
