"""Importing the exports practitioners actually have, with their real column names."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.cli import main
from newsletter.errors import NewsletterError
from newsletter.mail.csvimport import parse_csv, read_csv_file

GOOGLE = (
    "First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,"
    "Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,"
    "Organization Title,Organization Department,Birthday,Notes,Photo,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,"
    "Phone 1 - Label,Phone 1 - Value"
)
GOOGLE_OLD = (
    "Name,Given Name,Additional Name,Family Name,Yomi Name,Given Name Yomi,"
    "Additional Name Yomi,Family Name Yomi,Name Prefix,Name Suffix,Initials,Nickname,"
    "Short Name,Maiden Name,Birthday,Gender,Location,Billing Information,Directory Server,"
    "Mileage,Occupation,Hobby,Sensitivity,Priority,Subject,Notes,Language,Photo,"
    "Group Membership,E-mail 1 - Type,E-mail 1 - Value,E-mail 2 - Type,E-mail 2 - Value,"
    "Phone 1 - Type,Phone 1 - Value"
)
OUTLOOK = (
    "First Name,Middle Name,Last Name,Title,Suffix,Nickname,Given Yomi,Surname Yomi,"
    "E-mail Address,E-mail 2 Address,E-mail 3 Address,Home Phone,Home Phone 2,"
    "Business Phone,Business Phone 2,Mobile Phone,Car Phone,Other Phone,Primary Phone,"
    "Pager,Business Fax,Home Fax,Other Fax,Company Main Phone,Callback,Radio Phone,Telex,"
    "TTY/TDD Phone,IMAddress,Job Title,Department,Company,Office Location,Manager's Name,"
    "Assistant's Name,Assistant's Phone,Company Yomi,Business Street,Business City,"
    "Business State,Business Postal Code,Business Country/Region,Home Street,Home City,"
    "Home State,Home Postal Code,Home Country/Region,Other Street,Other City,Other State,"
    "Other Postal Code,Other Country/Region,Personal Web Page,Spouse,Schools,Hobby,"
    "Location,Web Page,Birthday,Anniversary,Notes"
)
MAILCHIMP = (
    "Email Address,First Name,Last Name,Address,Phone Number,Birthday,MEMBER_RATING,"
    "OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,"
    "CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS"
)
MAILCHIMP_UNSUBSCRIBED = (
    "Email Address,First Name,Last Name,Address,Phone Number,Birthday,MEMBER_RATING,"
    "OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,"
    "CC,REGION,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,"
    "UNSUB_REASON_OTHER,LEID,EUID,NOTES,TAGS"
)
MAILCHIMP_CLEANED = (
    "Email Address,First Name,Last Name,Address,Phone Number,Birthday,MEMBER_RATING,"
    "OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,"
    "CC,REGION,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID,NOTES,TAGS"
)
SQUARE = (
    "First Name,Last Name,Email Address,Phone Number,Nickname,Company Name,"
    "Street Address 1,Street Address 2,City,State,Postal Code,Birthday,Memo,"
    "Square Customer ID,Creation Source,First Visit,Last Visit,Transaction Count,"
    "Total Spend,Email Subscription Status,Instant Profile"
)
ACUITY = "First Name,Last Name,Phone,Email,Notes,Days Since Last Appointment,Banned"
CALENDLY = (
    "Invitee Name,Invitee First Name,Invitee Last Name,Invitee Email,Text Reminder Number,"
    "Event Type Name,Start Date & Time,End Date & Time,Invitee Time Zone,Location"
)


@pytest.fixture(autouse=True)
def _in_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_DB", raising=False)
    monkeypatch.chdir(tmp_path)


def row(header: str, **cells: str) -> str:
    """A record for `header` with the named columns filled (keys: header names, _ for space)."""
    names = header.split(",")
    values = {k.replace("_", " "): v for k, v in cells.items()}
    return ",".join(_quote(values.get(name, "")) for name in names)


def _quote(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def csv_file(tmp_path: Path, header: str, *records: str, name: str = "contacts.csv") -> str:
    (tmp_path / name).write_text("\n".join([header, *records]) + "\n", encoding="utf-8")
    return name


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["subscribers", "import", *args])


def stored(tmp_path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(tmp_path / "data" / "newsletter.db")
    try:
        return conn.execute("SELECT email, name, status FROM subscribers ORDER BY id").fetchall()
    finally:
        conn.close()


def test_google_contacts_current_layout_takes_the_first_address(tmp_path: Path) -> None:
    """Google's CSV: 'E-mail 1 - Value' is the address; several in one cell give the first."""
    name = csv_file(
        tmp_path,
        GOOGLE,
        row(GOOGLE, First_Name="Ann", Last_Name="Lee", **{"E-mail 1 - Value": "ann@example.com"}),
        row(
            GOOGLE,
            First_Name="Bo",
            **{"E-mail 1 - Value": "bo@example.org ::: bo.work@example.net"},
        ),
        row(GOOGLE, First_Name="Cy", **{"E-mail 2 - Value": "cy@example.com"}),
    )
    result = run(name, "--consent", "asked at the front desk")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Imported contacts.csv (Google Contacts, 3 rows): 3 added, 0 updated, 0 unchanged, "
        "0 rejected, 0 skipped (unsubscribed, bounced or complained)\n"
    )
    assert stored(tmp_path) == [
        ("ann@example.com", "Ann Lee", "active"),
        ("bo@example.org", "Bo", "active"),
        ("cy@example.com", "Cy", "active"),
    ]


def test_google_contacts_older_layout(tmp_path: Path) -> None:
    """The older Google CSV (Name, Given Name, ..., E-mail 1 - Type, E-mail 1 - Value)."""
    name = csv_file(
        tmp_path,
        GOOGLE_OLD,
        row(GOOGLE_OLD, Name="Ann Lee", Given_Name="Ann", **{"E-mail 1 - Value": "a@example.com"}),
        row(GOOGLE_OLD, Given_Name="Bo", **{"E-mail 1 - Value": "b@example.com ::: c@x.org"}),
    )
    result = run(name, "--consent", "asked at the front desk")
    assert result.exit_code == 0, result.output
    assert "(Google Contacts (older layout), 2 rows): 2 added" in result.stdout
    assert stored(tmp_path) == [
        ("a@example.com", "Ann Lee", "active"),
        ("b@example.com", "Bo", "active"),
    ]


def test_outlook_contacts_fall_back_to_the_second_address(tmp_path: Path) -> None:
    """Outlook's CSV: 'E-mail Address', then 'E-mail 2 Address' when the first is empty."""
    name = csv_file(
        tmp_path,
        OUTLOOK,
        row(OUTLOOK, First_Name="Ann", Last_Name="Lee", **{"E-mail Address": "a@example.com"}),
        row(OUTLOOK, First_Name="Bo", **{"E-mail 2 Address": "bo@example.org"}),
    )
    result = run(name, "--consent", "asked at the front desk")
    assert result.exit_code == 0, result.output
    assert "(Outlook contacts, 2 rows): 2 added" in result.stdout
    assert stored(tmp_path) == [
        ("a@example.com", "Ann Lee", "active"),
        ("bo@example.org", "Bo", "active"),
    ]


def test_apple_contacts_vcard(tmp_path: Path) -> None:
    """Apple Contacts exports vCard 3.0; each card gives its first address and its name."""
    (tmp_path / "contacts.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lee;Ann;;;\r\nFN:Ann Lee\r\n"
        "EMAIL;type=INTERNET;type=HOME;type=pref:ann@example.com\r\n"
        "EMAIL;type=INTERNET;type=WORK:ann@work.example.org\r\n"
        "TEL;type=CELL;type=VOICE;type=pref:(530) 555-0100\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;Bo;;;\r\nFN:Bo\r\n"
        "item1.EMAIL;type=INTERNET;type=pref:bo@example.org\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n"
        "END:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Ray;Cy;;;\r\nFN:Cy Ray\r\nTEL:555\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    result = run("contacts.vcf", "--consent", "asked at the front desk")
    assert result.exit_code == 0, result.output
    assert result.stderr == "contacts.vcf:16: note: no email address; skipped\n"
    assert result.stdout.startswith("Imported contacts.vcf (vCard, 3 rows): 2 added, ")
    assert stored(tmp_path) == [
        ("ann@example.com", "Ann Lee", "active"),
        ("bo@example.org", "Bo", "active"),
    ]


def test_an_unreadable_card_is_rejected_and_the_others_import(tmp_path: Path) -> None:
    """One broken card is an error at its line (exit 1); the cards around it still count."""
    (tmp_path / "c.vcf").write_text(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nEMAIL:ann@example.com\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nthis is not a vCard line\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bo\nEMAIL:bo@example.org\nEND:VCARD\n",
        encoding="utf-8",
    )
    result = run("c.vcf", "--consent", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("c.vcf:6: this contact card is not readable: ")
    assert [e for e, _, _ in stored(tmp_path)] == ["ann@example.com", "bo@example.org"]


def test_mailchimp_subscribed_export_records_the_opt_in_as_consent(tmp_path: Path) -> None:
    """Mailchimp's subscribed export: its members opted in, which is the consent recorded."""
    name = csv_file(
        tmp_path,
        MAILCHIMP,
        row(MAILCHIMP, Email_Address="ann@example.com", First_Name="Ann", OPTIN_TIME="2024-03-01"),
    )
    result = run(name)
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(tmp_path / "data" / "newsletter.db")
    assert conn.execute("SELECT consent, status FROM subscribers").fetchall() == [
        ("subscribed to the Mailchimp audience", "active")
    ]


def test_mailchimp_unsubscribed_export_is_never_active(tmp_path: Path) -> None:
    """Unsubscribed export: a new address is stored unsubscribed, an active one stops, and a
    later subscribed list does not bring either back."""
    run(csv_file(tmp_path, "email\nann@example.com\n", name="old.csv"), "--consent", "form")
    name = csv_file(
        tmp_path,
        MAILCHIMP_UNSUBSCRIBED,
        row(MAILCHIMP_UNSUBSCRIBED, Email_Address="Ann@example.com", UNSUB_TIME="2025-01-02"),
        row(MAILCHIMP_UNSUBSCRIBED, Email_Address="bo@example.org", First_Name="Bo"),
    )
    result = run(name)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Imported {name} (Mailchimp unsubscribed export, 2 rows): 0 added, 0 updated, "
        "0 unchanged, 0 rejected, 0 skipped (unsubscribed, bounced or complained), "
        "2 recorded as unsubscribed or bounced (1 new, 1 no longer active, 0 already not active)\n"
    )
    assert stored(tmp_path) == [
        ("ann@example.com", "", "unsubscribed"),
        ("bo@example.org", "Bo", "unsubscribed"),
    ]
    again = csv_file(tmp_path, "email\nann@example.com\nbo@example.org\n", name="again.csv")
    assert (
        "0 added, 0 updated, 0 unchanged, 0 rejected, 2 skipped"
        in run(again, "--consent", "x").stdout
    )
    assert [s for _, _, s in stored(tmp_path)] == ["unsubscribed", "unsubscribed"]


def test_mailchimp_cleaned_export_is_stored_as_bounced(tmp_path: Path) -> None:
    """Cleaned (hard-bounced) addresses: new ones stored bounced, active ones stop; an
    unsubscribe already recorded stays an unsubscribe."""
    first = csv_file(tmp_path, "email\nann@example.com\ncy@example.com\n", name="first.csv")
    run(first, "--consent", "form")
    CliRunner().invoke(main, ["subscribers", "remove", "cy@example.com"])
    name = csv_file(
        tmp_path,
        MAILCHIMP_CLEANED,
        row(MAILCHIMP_CLEANED, Email_Address="ann@example.com", CLEAN_TIME="2025-02-03"),
        row(MAILCHIMP_CLEANED, Email_Address="bo@example.org"),
        row(MAILCHIMP_CLEANED, Email_Address="cy@example.com"),
    )
    result = run(name, "--dry-run")
    assert "3 recorded as unsubscribed or bounced (1 new, 1 no longer active, 1 already" in (
        result.stdout
    )
    assert [s for _, _, s in stored(tmp_path)] == ["active", "unsubscribed"]
    result = run(name)
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [
        ("ann@example.com", "", "bounced"),
        ("cy@example.com", "", "unsubscribed"),
        ("bo@example.org", "", "bounced"),
    ]


def test_square_honours_its_email_subscription_status(tmp_path: Path) -> None:
    """Square's customer directory: 'Email Subscription Status' Unsubscribed is kept."""
    name = csv_file(
        tmp_path,
        SQUARE,
        row(
            SQUARE,
            First_Name="Ann",
            Last_Name="Lee",
            Email_Address="ann@example.com",
            Email_Subscription_Status="Subscribed",
            Square_Customer_ID="A1",
        ),
        row(
            SQUARE,
            First_Name="Bo",
            Email_Address="bo@example.org",
            Email_Subscription_Status="Unsubscribed",
            Square_Customer_ID="B2",
        ),
        row(SQUARE, First_Name="Cy", Square_Customer_ID="C3"),
    )
    result = run(name, "--consent", "newsletter box at checkout")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Imported {name} (Square customer directory, 3 rows): 1 added, 0 updated, 0 unchanged, "
        "0 rejected, 0 skipped (unsubscribed, bounced or complained), 1 recorded as "
        "unsubscribed or bounced (1 new, 0 no longer active, 0 already not active), "
        "1 not imported (1 without an address)\n"
    )
    assert stored(tmp_path) == [
        ("ann@example.com", "Ann Lee", "active"),
        ("bo@example.org", "Bo", "unsubscribed"),
    ]


def test_square_without_consent_imports_nothing(tmp_path: Path) -> None:
    """A Square list with subscribed customers still needs a consent basis."""
    name = csv_file(
        tmp_path, SQUARE, row(SQUARE, Email_Address="a@example.com", Square_Customer_ID="A")
    )
    result = run(name)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{name}:1: no consent column and no --consent")
    assert not (tmp_path / "data").exists()


def test_acuity_client_list(tmp_path: Path) -> None:
    """Acuity Scheduling's client export: Email, First Name, Last Name."""
    name = csv_file(
        tmp_path, ACUITY, row(ACUITY, First_Name="Ann", Last_Name="Lee", Email="a@example.com")
    )
    result = run(name, "--consent", "booking form checkbox")
    assert result.exit_code == 0, result.output
    assert "(Acuity Scheduling clients, 1 row): 1 added" in result.stdout
    assert stored(tmp_path) == [("a@example.com", "Ann Lee", "active")]


def test_calendly_invitees(tmp_path: Path) -> None:
    """Calendly's invitee export: 'Invitee Email' and 'Invitee Name'; repeat bookings are notes."""
    name = csv_file(
        tmp_path,
        CALENDLY,
        row(CALENDLY, Invitee_Name="Ann Lee", Invitee_Email="a@example.com"),
        row(CALENDLY, Invitee_Name="Ann Lee", Invitee_Email="a@example.com"),
    )
    result = run(name, "--consent", "booking form checkbox")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("1 not imported (1 duplicate)\n")
    assert stored(tmp_path) == [("a@example.com", "Ann Lee", "active")]


@pytest.mark.parametrize(
    ("header", "record"),
    [
        # SimplePractice's Client Details Report: a full-name 'Client' column; its 'Status'
        # (Active, Archived, Prospect) is about therapy, not about mail.
        ("Client,Email,Phone,Status,Primary Clinician", "Ann Lee,a@example.com,555,Archived,D"),
        # Vagaro's customer fields.
        ("First Name,Last Name,Email Address,Mobile Phone,Day Phone", "Ann,Lee,a@example.com,5,"),
        # Mindbody and Jane: 'Email' with split names and a preferred name.
        ("Client ID,First Name,Last Name,Preferred Name,Email", "7,Ann,Lee,Annie,a@example.com"),
    ],
    ids=["simplepractice", "vagaro", "mindbody-jane"],
)
def test_booking_systems_with_generic_columns(tmp_path: Path, header: str, record: str) -> None:
    """Booking systems without a fixed layout of their own are read by the generic names."""
    result = run(csv_file(tmp_path, header, record), "--consent", "intake form")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [("a@example.com", "Ann Lee", "active")]


def test_a_backup_made_by_export_keeps_every_status(tmp_path: Path) -> None:
    """`subscribers export` then import elsewhere: nobody who left comes back as active."""
    run(csv_file(tmp_path, "email\na@example.com\nb@example.com\n"), "--consent", "form")
    CliRunner().invoke(main, ["subscribers", "remove", "b@example.com"])
    CliRunner().invoke(main, ["subscribers", "export", "backup.csv"])
    result = run("backup.csv", "--db", "other.db")
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(tmp_path / "other.db")
    assert conn.execute("SELECT email, status, consent FROM subscribers").fetchall() == [
        ("a@example.com", "active", "form"),
        ("b@example.com", "unsubscribed", ""),
    ]


def test_other_exports_name_their_columns_with_options(tmp_path: Path) -> None:
    """--email-column and --name-column read any layout; a wrong name lists every column."""
    name = csv_file(tmp_path, "Client,Contact,Phone\nAnn Lee,a@example.com,555\n")
    result = run(name, "--email-column", "contact", "--name-column", "Client", "--consent", "x")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [("a@example.com", "Ann Lee", "active")]
    wrong = run(name, "--email-column", "Mail", "--consent", "x")
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        f"{name}:1: --email-column 'Mail': no such column; the columns are 'Client', "
        "'Contact', 'Phone'\nFound 1 error.\n"
    )


def test_the_no_email_column_error_lists_every_column(tmp_path: Path) -> None:
    """A header of many columns is listed in full, not cut off before the one that matters."""
    header = ",".join(f"Column {i}" for i in range(12))
    name = csv_file(tmp_path, header, ",".join("x" * 12))
    result = run(name, "--consent", "x")
    assert result.exit_code == 1
    assert "'Column 0', " in result.stderr and "'Column 11'; name the column" in result.stderr


def test_excel_sep_line_is_honoured(tmp_path: Path) -> None:
    """Excel's `sep=;` first line names the delimiter and is not taken for the header."""
    (tmp_path / "c.csv").write_text("sep=;\nemail;name\na@example.com;Lee, Ann\nbad;X\n")
    result = run("c.csv", "--consent", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("c.csv:4: 'bad': ")
    assert stored(tmp_path) == [("a@example.com", "Lee, Ann", "active")]


def test_excel_unicode_text_utf16_with_bom_and_tabs(tmp_path: Path) -> None:
    """Excel's 'Unicode text' is UTF-16 with a BOM, tab-separated: read as such."""
    text = "E-mail Address\tFirst Name\tLast Name\r\nzoe@example.com\tZoë\tŁój\r\n"
    (tmp_path / "c.txt").write_bytes(text.encode("utf-16"))
    result = run("c.txt", "--consent", "x")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [("zoe@example.com", "Zoë Łój", "active")]


def test_utf16_without_bom_is_detected(tmp_path: Path) -> None:
    """Some tools write UTF-16 without a BOM: the NUL bytes give it away, not 'binary'."""
    (tmp_path / "c.csv").write_bytes("email,name\nann@example.com,Ann\n".encode("utf-16-le"))
    result = run("c.csv", "--consent", "x")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [("ann@example.com", "Ann", "active")]


def test_encoding_option_overrides_detection(tmp_path: Path) -> None:
    """--encoding for what detection cannot know (an old Mac export); a bad name is clear."""
    (tmp_path / "c.csv").write_bytes("email,name\nann@example.com,Zoë\n".encode("mac-roman"))
    assert run("c.csv", "--consent", "x", "--encoding", "mac-roman").exit_code == 0
    assert stored(tmp_path) == [("ann@example.com", "Zoë", "active")]
    bad = run("c.csv", "--consent", "x", "--encoding", "klingon")
    assert bad.exit_code == 1
    assert bad.stderr == (
        "--encoding: unknown encoding 'klingon'; try utf-8, utf-16 or cp1252\nFound 1 error.\n"
    )


def test_only_notes_exits_0_and_every_row_is_accounted_for(tmp_path: Path) -> None:
    """A duplicate and a contact without an address are notes: exit 0, and the summary's
    numbers add up to the rows of the file."""
    name = csv_file(tmp_path, "email,name\na@example.com,A\n,B\nA@example.com,C\nc@example.com,C\n")
    result = run(name, "--consent", "x")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{name}:3: note: no email address; skipped\n"
        f"{name}:4: note: A@example.com: duplicate of line 2; the first is kept\n"
    )
    assert result.stdout == (
        f"Imported {name} (4 rows): 2 added, 0 updated, 0 unchanged, 0 rejected, 0 skipped "
        "(unsubscribed, bounced or complained), 2 not imported (1 duplicate, 1 without an "
        "address)\n"
    )


# --- properties ----------------------------------------------------------------------------

VCARD_LINES = ["BEGIN:VCARD", "END:VCARD", "VERSION:2.1", "VERSION:3.0", "VERSION:4.0",
               "EMAIL:a@example.com", "EMAIL;ENCODING=QUOTED-PRINTABLE:a=3Db", "N:;;", "N:a",
               "FN:", "FN;CHARSET=utf-8:x", "PHOTO;ENCODING=b:@@@", "item1.EMAIL:x",
               "BEGIN:VCALENDAR", "END:VCALENDAR", " folded", "X:\\", "EMAIL;TYPE=a,b:c",
               "KEY;ENCODING=BASE64:zz="]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(VCARD_LINES), max_size=12), st.text(max_size=20))
def test_any_vcard_gives_contacts_or_a_newsletter_error(lines: list[str], extra: str) -> None:
    """Broken, nested or half cards: the vCard reader answers with rows or a NewsletterError."""
    text = "BEGIN:VCARD\r\n" + "\r\n".join(lines) + extra
    try:
        parsed = parse_csv(text, path="x.vcf", consent="c")
    except NewsletterError as exc:
        assert all(p.path == "x.vcf" for p in exc.problems)
        return
    assert all(row.line >= 1 for row in parsed.rows)
    assert all(problem.line >= 1 for problem in parsed.problems)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12).map(
            lambda s: " ".join(s.split())
        ),
        min_size=1,
        max_size=8,
    ),
    encoding=st.sampled_from(["utf-16", "utf-8-sig", "utf-8", "utf-16-le"]),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
def test_names_survive_every_detected_encoding(tmp_path, names, encoding, delimiter) -> None:
    """Whatever encoding Excel or a contact app chose, the names come back as written."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["Email", "Name"])
    writer.writerows([f"p{i}@example.com", name] for i, name in enumerate(names))
    file = tmp_path / f"list-{encoding}.csv"
    file.write_bytes(out.getvalue().encode(encoding))
    parsed = read_csv_file(file, path="list.csv", consent="c")
    assert [r.name for r in parsed.rows] == names


@pytest.mark.parametrize(
    "column", ["Email Marketing Status", "Subscription Status", "Unsubscribed", "Opted Out"]
)
def test_an_unknown_layout_that_says_who_left_is_honoured(tmp_path: Path, column: str) -> None:
    """A mail-status column in any layout: unsubscribed, cleaned or opted-out rows never
    become active, even with --consent."""
    left = "TRUE" if column in ("Unsubscribed", "Opted Out") else "Unsubscribed"
    stays = "FALSE" if left == "TRUE" else "Subscribed"
    name = csv_file(
        tmp_path,
        f"Email,Name,{column}",
        f"a@example.com,Ann,{stays}",
        f"b@example.com,Bo,{left}",
    )
    result = run(name, "--consent", "x")
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [
        ("a@example.com", "Ann", "active"),
        ("b@example.com", "Bo", "unsubscribed"),
    ]


def test_cleaned_in_a_status_column_is_bounced(tmp_path: Path) -> None:
    """Mailchimp's word for a hard-bouncing address, in a status column of any layout."""
    name = csv_file(tmp_path, "Email,Status of email,Email Status", "c@example.com,,Cleaned")
    result = run(name)
    assert result.exit_code == 0, result.output
    assert stored(tmp_path) == [("c@example.com", "", "bounced")]
