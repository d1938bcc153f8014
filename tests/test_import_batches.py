"""Batched imports count and store exactly what a row-by-row reading of the list says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.mail import subscribers as subs
from newsletter.mail.database import connect

NOW = "2026-03-02T09:00:00Z"
ADDRESSES = ["a@example.org", "A@example.org", "b@example.org", "c@example.org", "d@example.org"]
PEOPLE = st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(["", "Ann", "Bo"]))


def expected(
    listed: dict[str, tuple[str, str]], rows: list[tuple[str, str]], size: int, dry_run: bool
) -> tuple[subs.ImportCounts, dict[str, tuple[str, str]]]:
    """Row by row, batch by batch: a repeat within a batch is dropped, a later one is listed
    (in a dry run, each batch sees the list as it was: nothing is written)."""
    added = updated = unchanged = skipped = 0
    original, listed = listed, dict(listed)
    for start in range(0, len(rows), size):
        batch: dict[str, tuple[str, str]] = {}
        for email, name in rows[start : start + size]:
            batch.setdefault(subs.email_key(email), (email, name))
        before = dict(original if dry_run else listed)
        for key, (_email, name) in batch.items():
            if key not in before:
                added += 1
                listed[key] = ("active", name)
            elif before[key][0] != "active":
                skipped += 1
            elif name and name != before[key][1]:
                updated += 1
                listed[key] = ("active", name)
            else:
                unchanged += 1
    return subs.ImportCounts(added, updated, unchanged, skipped), listed


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(st.tuples(PEOPLE, st.sampled_from(subs.STATUSES)), max_size=4),
    rows=st.lists(PEOPLE, max_size=9),
    size=st.integers(min_value=1, max_value=4),
    statement=st.integers(min_value=1, max_value=3),
    dry_run=st.booleans(),
)
def test_batched_import_counts_and_stores_what_rows_one_by_one_say(
    before: list[tuple[tuple[str, str], str]],
    rows: list[tuple[str, str]],
    size: int,
    statement: int,
    dry_run: bool,
) -> None:
    """`size` rows a batch, `statement` rows an INSERT into the batch's table."""
    conn = connect(Path(":memory:"))
    listed: dict[str, tuple[str, str]] = {}
    for (email, name), status in before:
        if subs.email_key(email) in listed:
            continue
        subs.add(conn, email, consent="form", name=name, now=NOW)
        if status != "active":
            subs.escalate_status(conn, email, status, now=NOW)
        listed[subs.email_key(email)] = (status, name)
    counts, after = expected(listed, rows, size, dry_run)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subs, "IMPORT_BATCH", size)
        patch.setattr(subs, "_INCOMING_ROWS", statement)
        got = subs.import_rows(
            conn, [(e, n, "form") for e, n in rows], source="test", dry_run=dry_run, now=NOW
        )
    stored = {subs.email_key(s.email): (s.status, s.name) for s in subs.iter_subscribers(conn)}
    assert got == counts
    assert stored == (listed if dry_run else after)
