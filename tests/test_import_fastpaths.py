"""The import's fast paths give exactly the answers of the slow ones they stand in for."""

from __future__ import annotations

import unicodedata

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter.mail import subscribers as subs
from newsletter.mail.csvimport import Row, Rows
from newsletter.mail.importers import table
from newsletter.mail.importers.vcard import looks_like_vcard

ROLES = ["info", "Info", "POSTMASTER", "Abuse", "www", "noc", "sales", "infos", "x.info"]
SPECIAL = ["test", "local", "localhost", "invalid", "onion", "arpa", "example", "com"]
LABEL = st.text(alphabet="aZz09-", min_size=0, max_size=8) | st.sampled_from(
    ["xn--bcher-kva", "ab--cd", "a" * 63, "b" * 64, "-a", "a-", "1", "Q", *SPECIAL]
)
LOCAL = st.text(alphabet="aZ09.+_-'!#~\"ü ", min_size=0, max_size=10) | st.sampled_from(
    [*ROLES, "a" * 64, "b" * 65, "a..b", ".a", "a."]
)


def full(address: str) -> str | None:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def fast(address: str) -> str | None:
    try:
        return subs.normalize_email(address)
    except ValueError:
        return None


@settings(max_examples=2000, deadline=None)
@given(
    local=LOCAL,
    labels=st.lists(LABEL, min_size=0, max_size=5),
    padding=st.sampled_from(["", " ", "\t"]),
    long_label=st.integers(min_value=0, max_value=250),
)
@example(local="Info", labels=["Example", "com"], padding="", long_label=0)
@example(local="a", labels=["mail", "test"], padding="", long_label=0)
@example(
    local="a", labels=["b" * 63, "c" * 63, "d" * 63, "e" * 59, "com"], padding="", long_label=0
)
def test_plain_ascii_addresses_normalise_as_email_validator_does(
    local: str, labels: list[str], padding: str, long_label: int
) -> None:
    """Generated near the edges of the plain-ASCII fast path: case, role mailboxes, label
    and address lengths, hyphens, Punycode, special-use and numeric top-level domains."""
    if long_label:
        labels = [*labels, "x" * (long_label % 64 or 1)] * (1 + long_label // 64)
    address = f"{padding}{local}@{'.'.join(labels)}{padding}"
    assert fast(address) == full(address)


@settings(deadline=None)
@given(st.emails())
def test_generated_addresses_normalise_as_email_validator_does(address: str) -> None:
    assert fast(address) == full(address)
    assert fast(address.upper()) == full(address.upper())


def clean_name_slowly(name: str) -> str:
    """clean_name's rule spelled out for every character, without its printable shortcut."""
    name = subs._decode_encoded_words(name) if subs._ENCODED_WORD.search(name) else name
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category == "Cs":
            continue
        bad = category in ("Cc", "Zl", "Zp") or char in subs._BIDI_CONTROLS
        kept.append(" " if bad else char)
    return " ".join("".join(kept).split())


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(" a\u00e9\t\n\u00a0\u2028\u202e\u3000=?Q_-"), max_size=30)
    | st.text(max_size=30)
    | st.integers(min_value=190, max_value=210).map(lambda n: "a " * (n // 2) + "b" * (n % 2))
)
def test_clean_name_keeps_the_answer_of_the_full_rule(name: str) -> None:
    """The printable shortcut (and returning the name itself when already clean) gives what
    cleaning character by character gives, including the length limit's refusal."""
    expected = clean_name_slowly(name)
    if len(expected) > subs.NAME_LIMIT:
        with pytest.raises(ValueError, match="characters long"):
            subs.clean_name(name)
    else:
        assert subs.clean_name(name) == expected


@given(
    st.text(
        alphabet=st.sampled_from(" \t\n\u2028\u3000bBeEgGiInN:vVcCaArRdD\u0131\u00df"), max_size=16
    )
)
@example("\n BEGIN:vcard\n")
@example("beg\u0131n:vcard")
def test_vcard_sniffing_reads_only_the_start(text: str) -> None:
    """Looking at the first characters answers as upper-casing the whole text would."""
    assert looks_like_vcard(text) == text.lstrip().upper().startswith("BEGIN:VCARD")


@settings(deadline=None)
@given(
    st.text(alphabet=st.sampled_from('a,"\r\n\v\f\x1c\x85\u2028 '), max_size=60),
    st.integers(min_value=1, max_value=12),
)
@example("a\r\nb\rc\nd", 2)
@example("a\r", 1)
def test_lines_split_in_chunks_as_one_expression_splits_them(text: str, size: int) -> None:
    """Chunked splitting ends lines exactly where csv would (CR LF, CR, LF), whatever the
    chunk size and wherever a CR LF falls."""
    expected = [match.group() for match in table._LINE.finditer(text)]
    assert list(table._lines(text, size)) == expected


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**6),
            st.text(max_size=5),
            st.text(max_size=5),
            st.sampled_from(["", "form"]),
            st.sampled_from(["active", "unsubscribed", "bounced"]),
        ),
        max_size=8,
    )
)
def test_rows_kept_as_columns_read_back_as_the_rows_appended(
    people: list[tuple[int, str, str, str, str]],
) -> None:
    rows = Rows()
    for person in people:
        rows.append(Row(*person))
    assert list(rows) == [Row(*p) for p in people] == [rows[i] for i in range(len(rows))]
    assert rows[1:] == [Row(*p) for p in people][1:]
    assert list(rows.joining()) == [(e, n, c) for _, e, n, c, s in people if s == "active"]
    assert list(rows.leaving()) == [(e, n, s) for _, e, n, _, s in people if s != "active"]
