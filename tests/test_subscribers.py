"""The subscriber list, its schema migrations and the `subscribers` commands."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.cli import main
from newsletter.errors import NewsletterError
from newsletter.mail import database
from newsletter.mail import subscribers as subs
from newsletter.mail.database import MIGRATIONS, connect, migrate, schema_version, transaction

NOW = "2026-03-02T09:00:00Z"


@pytest.fixture(autouse=True)
def _no_db_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_DB", raising=False)


@pytest.fixture
def conn(tmp_path: Path):
    connection = connect(tmp_path / "data" / "newsletter.db")
    yield connection
    connection.close()


def run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(tmp_path), "subscribers", *args])


# --- database and migrations -------------------------------------------------------------------


def test_fresh_database_reaches_latest_version(tmp_path: Path) -> None:
    """A new file gets every migration, and user_version records how many."""
    conn = connect(tmp_path / "new" / "folder" / "n.db")
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == database.BUSY_TIMEOUT_MS
    assert isinstance(conn.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)
    conn.close()


def test_rerunning_migrations_is_a_no_op(tmp_path: Path) -> None:
    """Opening an up-to-date file again runs nothing (a migration run twice would fail)."""
    path = tmp_path / "n.db"
    connect(path).close()
    calls: list[str] = []

    def counted(migration):
        def run(conn: sqlite3.Connection) -> None:
            calls.append(migration.__name__)
            migration(conn)

        return run

    conn = connect(path)
    schema = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn, [counted(m) for m in MIGRATIONS]) == len(MIGRATIONS)
    assert calls == []
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    conn.close()


def test_new_migration_applies_once_on_top(tmp_path: Path) -> None:
    """Appending a migration upgrades existing files by exactly that one step."""
    path = tmp_path / "n.db"
    connect(path).close()
    calls: list[str] = []

    def extra_v1(conn: sqlite3.Connection) -> None:
        calls.append("extra")
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")

    conn = connect(path)
    assert migrate(conn, [*MIGRATIONS, extra_v1]) == len(MIGRATIONS) + 1
    assert migrate(conn, [*MIGRATIONS, extra_v1]) == len(MIGRATIONS) + 1
    assert calls == ["extra"]
    conn.close()


def test_failed_migration_leaves_version_and_schema_unchanged(tmp_path: Path) -> None:
    """A migration and its version bump commit together: a failure half-way leaves neither."""
    conn = connect(tmp_path / "n.db")

    def broken_v1(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (id INTEGER)")
        conn.execute("this is not sql")

    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [*MIGRATIONS, broken_v1])
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    conn.close()


def test_database_newer_than_program_is_refused(tmp_path: Path) -> None:
    """A file from a newer release is not touched by an older one."""
    path = tmp_path / "n.db"
    conn = connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(NewsletterError) as caught:
        connect(path)
    assert str(caught.value) == (
        f"{path}: schema version {len(MIGRATIONS) + 5} is newer than this program knows "
        f"({len(MIGRATIONS)}); upgrade newsletter before using this database"
    )


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    """Pointing --db at some other file explains itself instead of crashing."""
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not sqlite\n" * 100)
    with pytest.raises(NewsletterError) as caught:
        connect(path)
    assert str(caught.value) == (
        f"{path}: the database is damaged: restore it from a backup (file is not a database)"
    )


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    """Two processes opening a fresh file at once both end up at the latest version."""
    path = tmp_path / "n.db"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            connect(path).close()
        except BaseException as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert schema_version(connect(path)) == len(MIGRATIONS)


def test_transaction_rolls_back_on_error(conn: sqlite3.Connection) -> None:
    """Nothing inside a failed transaction (or nested savepoint) is kept."""
    subs.add(conn, "a@example.com", consent="form", now=NOW)
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("UPDATE subscribers SET name = 'changed'")
        raise RuntimeError
    with transaction(conn):
        conn.execute("UPDATE subscribers SET name = 'outer'")
        with pytest.raises(RuntimeError), transaction(conn):
            conn.execute("UPDATE subscribers SET name = 'inner'")
            raise RuntimeError
    assert subs.get(conn, "a@example.com").name == "outer"


# --- the list ----------------------------------------------------------------------------------


def test_add_stores_normalised_address_consent_and_dates(conn: sqlite3.Connection) -> None:
    """The address is normalised (domain lower-cased, IDN), consent and dates recorded."""
    added = subs.add(
        conn, " Ann@BÜCHER.de ", name="  Ann   Lee ", consent="asked in person", now=NOW
    )
    assert added == subs.Subscriber(
        id=1,
        email="Ann@bücher.de",
        name="Ann Lee",
        status="active",
        source="",
        consent="asked in person",
        consent_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        unsubscribed_at=None,
    )
    assert subs.get(conn, "ann@xn--bcher-kva.de") == added


def test_add_refuses_duplicates_in_any_case(conn: sqlite3.Connection) -> None:
    """The same address in other case is the same subscriber; the database enforces it too."""
    subs.add(conn, "ann@example.com", consent="form")
    with pytest.raises(NewsletterError, match="already subscribed"):
        subs.add(conn, "ANN@example.com", consent="form")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO subscribers (email, email_key, consent, consent_at, created_at,"
            " updated_at) VALUES ('x', 'ann@example.com', 'c', 'n', 'n', 'n')"
        )


def test_add_requires_consent(conn: sqlite3.Connection) -> None:
    """No consent, no subscriber."""
    with pytest.raises(NewsletterError) as caught:
        subs.add(conn, "ann@example.com", consent="  ")
    assert str(caught.value) == f"ann@example.com: {subs.NO_CONSENT_ONE}"
    assert subs.count_by_status(conn)["active"] == 0


def test_unsubscribe_keeps_the_row_as_proof(conn: sqlite3.Connection) -> None:
    """Unsubscribing changes the status and dates; the row and its consent stay."""
    subs.add(conn, "ann@example.com", consent="form", now=NOW)
    left = subs.mark_unsubscribed(conn, "Ann@Example.com", now="2026-04-01T10:00:00Z")
    assert (left.status, left.unsubscribed_at, left.updated_at, left.consent) == (
        "unsubscribed",
        "2026-04-01T10:00:00Z",
        "2026-04-01T10:00:00Z",
        "form",
    )
    again = subs.mark_unsubscribed(conn, "ann@example.com", now="2026-05-01T10:00:00Z")
    assert again.unsubscribed_at == "2026-04-01T10:00:00Z"


def test_unknown_address_cannot_be_unsubscribed(conn: sqlite3.Connection) -> None:
    with pytest.raises(NewsletterError, match="not in the subscriber list"):
        subs.mark_unsubscribed(conn, "nobody@example.com")


def test_bounced_and_complained_stop_mail(conn: sqlite3.Connection) -> None:
    """Bounced and complained addresses leave the active stream and the counts say so."""
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        subs.add(conn, address, consent="form")
    subs.mark_bounced(conn, "a@example.com")
    subs.mark_complained(conn, "b@example.com")
    assert [s.email for s in subs.iter_active(conn)] == ["c@example.com"]
    assert subs.count_by_status(conn) == {
        "active": 1,
        "unsubscribed": 0,
        "bounced": 1,
        "complained": 1,
    }


def test_resubscribe_needs_the_flag_and_new_consent(conn: sqlite3.Connection) -> None:
    """Someone who left comes back only when asked explicitly, with the new consent recorded."""
    subs.add(conn, "ann@example.com", consent="form", now=NOW)
    subs.mark_unsubscribed(conn, "ann@example.com", now="2026-04-01T10:00:00Z")
    with pytest.raises(NewsletterError) as caught:
        subs.add(conn, "ann@example.com", consent="asked again")
    assert str(caught.value) == (
        "ann@example.com: unsubscribed since 2026-04-01T10:00:00Z; add --resubscribe only if "
        "they asked to receive the newsletter again"
    )
    back = subs.add(
        conn, "ann@example.com", consent="asked again", resubscribe=True, now="2026-05-01T00:00:00Z"
    )
    assert (back.status, back.consent, back.consent_at, back.unsubscribed_at) == (
        "active",
        "asked again",
        "2026-05-01T00:00:00Z",
        "2026-04-01T10:00:00Z",
    )


def test_active_stream_is_ordered_and_resumable(conn: sqlite3.Connection) -> None:
    """Active subscribers come in id order; after_id resumes after the last one handled."""
    for n in range(5):
        subs.add(conn, f"p{n}@example.com", consent="form")
    subs.mark_unsubscribed(conn, "p2@example.com")
    emails = [s.email for s in subs.iter_active(conn)]
    assert emails == ["p0@example.com", "p1@example.com", "p3@example.com", "p4@example.com"]
    assert [s.email for s in subs.iter_active(conn, after_id=2)] == emails[2:]


def test_active_stream_is_lazy(conn: sqlite3.Connection) -> None:
    """The stream is a generator over a cursor, and writing while iterating is allowed."""
    for n in range(3):
        subs.add(conn, f"p{n}@example.com", consent="form")
    stream = subs.iter_active(conn)
    assert next(stream).email == "p0@example.com"
    subs.mark_bounced(conn, "p0@example.com")
    assert [s.email for s in stream][:2] == ["p1@example.com", "p2@example.com"]


def test_invalid_status_filter_is_a_user_error(conn: sqlite3.Connection) -> None:
    with pytest.raises(NewsletterError, match="expected one of active"):
        list(subs.iter_subscribers(conn, status="gone"))


def test_export_csv_has_every_column_and_reads_back(conn: sqlite3.Connection) -> None:
    """The export is a complete backup: every column of every row, readable by csv."""
    subs.add(conn, "ann@example.com", name="Lee, Ann", consent='said "yes"', now=NOW)
    subs.add(conn, "bo@example.com", consent="form", now=NOW)
    subs.mark_unsubscribed(conn, "bo@example.com", now=NOW)
    out = io.StringIO()
    assert subs.export_csv(conn, out) == 2
    records = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(records[0]) == list(subs.COLUMNS)
    assert records[0]["name"] == "Lee, Ann"
    assert records[0]["consent"] == 'said "yes"'
    assert records[1]["unsubscribed_at"] == NOW


@settings(max_examples=300)
@given(
    st.one_of(
        st.emails(),
        st.text(max_size=40),
        st.builds(
            lambda a, b: f"{a}@{b}",
            st.text(alphabet="aA.+_-ü\"' 1", max_size=12),
            st.text(alphabet="exampleEXAMPLE.-ü1", max_size=20),
        ),
    )
)
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    """normalize_email gives exactly email-validator's answer, accepting and rejecting alike."""
    try:
        expected = validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = subs.normalize_email(address)
    except ValueError:
        got = None
    assert got == expected


# --- commands ----------------------------------------------------------------------------------


def test_cli_add_list_count_remove_export(tmp_path: Path) -> None:
    """The commands print exactly what they did."""
    result = run(tmp_path, "add", "Ann@Example.com", "--name", "Ann Lee", "--consent", "asked")
    assert (result.exit_code, result.stdout) == (0, "Added Ann@example.com (active).\n")
    run(tmp_path, "add", "bo@example.com", "--consent", "form")

    result = run(tmp_path, "remove", "BO@example.com")
    assert (result.exit_code, result.stdout) == (0, "Unsubscribed bo@example.com.\n")

    result = run(tmp_path, "list")
    assert result.stdout == "Ann@example.com\tactive\tAnn Lee\nbo@example.com\tunsubscribed\t\n"
    result = run(tmp_path, "list", "--status", "active")
    assert result.stdout == "Ann@example.com\tactive\tAnn Lee\n"

    result = run(tmp_path, "count")
    assert result.stdout == (
        "active             1\n"
        "unsubscribed       1\n"
        "bounced            0\n"
        "complained         0\n"
        "total              2\n"
    )

    result = run(tmp_path, "export", "-")
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(subs.COLUMNS)
    assert lines[1].startswith("1,Ann@example.com,Ann Lee,active,added by hand,asked,")
    assert len(lines) == 3


def test_cli_export_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """export FILE writes a complete CSV and says how many rows."""
    monkeypatch.chdir(tmp_path)
    run(tmp_path, "add", "ann@example.com", "--consent", "asked")
    result = run(tmp_path, "export", "out/list.csv")
    assert (result.exit_code, result.stdout) == (0, "Exported 1 subscribers to out/list.csv.\n")
    text = (tmp_path / "out" / "list.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(subs.COLUMNS)
    assert not list((tmp_path / "out").glob(".*partial"))


def test_cli_add_without_consent_says_why(tmp_path: Path) -> None:
    """Missing --consent is a usage error that explains what to give."""
    result = run(tmp_path, "add", "ann@example.com")
    assert result.exit_code == 2
    assert f"Error: {subs.NO_CONSENT_ONE}" in result.stderr
    assert not (tmp_path / "data" / "newsletter.db").exists()


def test_cli_add_invalid_address(tmp_path: Path) -> None:
    result = run(tmp_path, "add", "ann@", "--consent", "asked")
    assert result.exit_code == 1
    assert result.stderr == "ann@: There must be something after the @-sign.\nFound 1 error.\n"


def test_cli_remove_twice_and_unknown(tmp_path: Path) -> None:
    """Removing again is harmless and says since when; an unknown address is an error."""
    run(tmp_path, "add", "ann@example.com", "--consent", "asked")
    run(tmp_path, "remove", "ann@example.com")
    result = run(tmp_path, "remove", "ann@example.com")
    assert result.exit_code == 0
    assert result.stdout.startswith("ann@example.com was already unsubscribed (since 20")
    result = run(tmp_path, "remove", "nobody@example.com")
    assert (result.exit_code, result.stderr) == (
        1,
        "nobody@example.com: not in the subscriber list\nFound 1 error.\n",
    )


def test_cli_db_option_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--db picks the file; NEWSLETTER_DB does when --db is absent."""
    other = tmp_path / "other.db"
    run(tmp_path, "add", "ann@example.com", "--consent", "asked", "--db", str(other))
    assert run(tmp_path, "count", "--db", str(other)).stdout.startswith("active             1\n")
    assert run(tmp_path, "count").stdout.startswith("active             0\n")
    monkeypatch.setenv("NEWSLETTER_DB", str(other))
    assert run(tmp_path, "count").stdout.startswith("active             1\n")


def test_every_subscribers_command_has_help_with_an_example(tmp_path: Path) -> None:
    for command in ("import", "add", "remove", "list", "count", "export"):
        result = run(tmp_path, command, "--help")
        assert result.exit_code == 0
        assert "Example:" in result.stdout
        assert f"newsletter subscribers {command}" in result.stdout


def test_busy_database_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write while another process holds the lock waits, then says what is going on."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "n.db"
    holder = connect(path)
    holder.execute("BEGIN IMMEDIATE")
    waiter = connect(path)
    with pytest.raises(NewsletterError) as caught:
        subs.add(waiter, "ann@example.com", consent="form")
    assert str(caught.value) == (
        f"{path}: the database stayed busy for 0.05 s (is a send or an import running in "
        "another window?); try again when it has finished"
    )
    holder.execute("ROLLBACK")
    assert subs.add(waiter, "ann@example.com", consent="form").status == "active"
