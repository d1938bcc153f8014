"""`newsletter inbox` on 1,000 bounces, complaints and replies in a real Dovecot mailbox.

Target: 1,000 messages classified and filed in at most 10 s on the 2-core machine.
Run: .venv/bin/python tests/benchmarks/bench_inbox.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pytest.monkeypatch import MonkeyPatch
from click.testing import CliRunner
from conftest import TEST_SECRET, copy_example
from imap_server import PASSWORD, Dovecot, available
from inbox_support import add_readers, corpus_names, fill, send, smtp_env

from newsletter.cli import main

COUNT = 1000


def main_bench() -> None:
    if not available():
        print("skipped: needs Debian's dovecot-imapd (apt-get install dovecot-imapd)")
        return
    root = copy_example(Path(tempfile.mkdtemp(prefix="bench-inbox-")) / "ws")
    patch = MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            patch.delenv(name)
    patch.setenv("NEWSLETTER_SECRET", TEST_SECRET)
    server = Dovecot()
    try:
        add_readers(root / "data" / "newsletter.db")
        with smtp_env(patch) as sink:
            sent = send(root, "2026-12", sink)
        corpus = [fill(name, sent) for name in corpus_names()]
        # The corpus over and over (27 kinds of mail: bounces, complaints, auto-replies,
        # unsubscribe requests, ordinary mail), each copy told apart by a header of its own.
        mails = [
            corpus[i % len(corpus)].replace(b"\r\n", f"\r\nX-Bench: {i}\r\n".encode(), 1)
            for i in range(COUNT)
        ]
        user = server.user()
        server.fill(user, mails)
        for key, value in {
            "HOST": "127.0.0.1",
            "PORT": str(server.port),
            "SECURITY": "none",
            "USERNAME": user,
            "PASSWORD": PASSWORD,
        }.items():
            patch.setenv(f"NEWSLETTER_IMAP_{key}", value)
        started = time.perf_counter()
        result = CliRunner().invoke(main, ["--root", str(root), "inbox"])
        elapsed = time.perf_counter() - started
        assert result.exit_code == 0, result.output
        print(result.stdout.splitlines()[-1])
        print(f"{COUNT:,} messages classified and filed in {elapsed:.2f} s (target <= 10 s)")
    finally:
        server.stop()
        patch.undo()


if __name__ == "__main__":
    main_bench()
