"""A real Dovecot IMAP server on 127.0.0.1 with its own configuration in a temporary folder.

Every login with the password `secret` is a user of its own (a static passdb), with its own
empty Maildir: each test takes a fresh user name, so one server serves the whole session.
Plain IMAP (with STARTTLS) and IMAPS listen on free ports with a throwaway certificate.
Run as root (as on CI), the mail processes take the `nobody` uid and the folders are made
theirs; run as anyone else, everything runs as that user. Failed logins carry no growing
penalty here (its anvil socket is closed), so a wrong-password test does not slow the next.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from imapclient import IMAPClient

PASSWORD = "secret"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> bool:
    return Path(DOVECOT).exists()


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Dovecot:
    """One running server; `user()` hands out a fresh mailbox."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
        self.folder.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.cert, self.key = make_certificate(self.folder)
        self._names = itertools.count(1)
        root = os.geteuid() == 0
        account = pwd.getpwnam("nobody") if root else pwd.getpwuid(os.geteuid())
        self.uid, self.gid = account.pw_uid, account.pw_gid
        me = pwd.getpwuid(os.geteuid()).pw_name
        internal = "dovecot" if root and _has_user("dovecot") else account.pw_name
        login = "dovenull" if root and _has_user("dovenull") else account.pw_name
        self.mail = self.folder / "mail"
        self.mail.mkdir()
        if root:
            os.chown(self.mail, self.uid, self.gid)
        self.config = self.folder / "dovecot.conf"
        self.config.write_text(
            f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
info_log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
mail_location = maildir:{self.mail}/%u
first_valid_uid = 1
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {me}
  }}
  unix_listener stats-writer {{
    user = {me}
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait()
        except RuntimeError:
            self.stop()  # no server, no temporary folder left behind
            raise

    def _wait(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not answer within 10 s")

    def user(self) -> str:
        return f"user{next(self._names)}"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False)
        client.login(user, PASSWORD)
        return client

    def fill(self, user: str, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        """APPEND each message, unread, to the user's folder."""
        client = self.client(user)
        try:
            batch = list(messages)
            for start in range(0, len(batch), 100):
                client.multiappend(folder, batch[start : start + 100])
        finally:
            client.logout()

    def folders(self, user: str) -> dict[str, list[tuple[bytes, tuple[bytes, ...]]]]:
        """Each folder's messages as (Message-ID header line or subject, flags)."""
        client = self.client(user)
        result = {}
        try:
            for flags, _sep, name in client.list_folders():
                if {b"\\Noselect", b"\\NonExistent"} & set(flags):
                    continue
                client.select_folder(name, readonly=True)
                fetched = client.fetch(client.search(["ALL"]), ["FLAGS", "BODY.PEEK[]"])
                result[name] = [
                    (v[b"BODY[]"], tuple(v[b"FLAGS"])) for _, v in sorted(fetched.items())
                ]
        finally:
            client.logout()
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
