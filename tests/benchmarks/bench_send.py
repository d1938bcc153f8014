"""`newsletter send` against Postfix's smtp-sink, next to a plain smtplib loop, paired runs.

Each round runs, one after the other against the same sink:
  floor  a whole Python process that sends one prebuilt message (the issue's own bytes) to
         N recipients with smtplib.sendmail over one connection
  send   a whole `newsletter send --yes` process (build, ledger durable: a commit flushed to
         disk per message, one connection) to N subscribers
and the round's figure is floor time / send time (above 1: the send is faster). Reported:
every round, and the median of the rounds (target: at least 1.2).

Needs smtp-sink from Debian's postfix package, installed without starting a mail system:
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix
Without it a minimal sink of our own stands in (and says so). BENCH_MESSAGES (5000) and
BENCH_ROUNDS (3) scale the run. Then, as the previous benchmark reported them: the send's
own rate (its summary) on 1 and 4 connections, and its peak memory sending to
BENCH_RSS_SUBSCRIBERS (100,000; 0 skips it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from newsletter.build import pipeline as build  # noqa: E402
from newsletter.build.recipient import make_recipient  # noqa: E402
from newsletter.mail import database  # noqa: E402
from newsletter.mail import send as sending  # noqa: E402
from newsletter.workspace import Paths  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECRET = "bench-secret-bench-secret-bench-secret"
SMTP_SINK = shutil.which("smtp-sink") or (
    "/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None
)

FLOOR = """
import smtplib, sys, time
port, count, sender, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
message = open(path, "rb").read()
conn = smtplib.SMTP("127.0.0.1", port)
for i in range(count):
    conn.sendmail(sender, [f"reader{i}@example.org"], message)
conn.quit()
"""

MINI_SINK = """
import socket, sys, threading
def serve(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 sink ESMTP\\r\\n")
    data = False
    while True:
        line = f.readline()
        if not line:
            return
        if data:
            if line == b".\\r\\n":
                data = False
                conn.sendall(b"250 2.0.0 Ok: queued\\r\\n")
            continue
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250-sink\\r\\n250-PIPELINING\\r\\n250 8BITMIME\\r\\n")
        elif verb == b"DATA":
            data = True
            conn.sendall(b"354 go ahead\\r\\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\\r\\n")
            return
        else:
            conn.sendall(b"250 ok\\r\\n")
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    if SMTP_SINK:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = [SMTP_SINK, *user, f"127.0.0.1:{port}", "256"]
        name = "Postfix smtp-sink"
    else:
        command = [sys.executable, "-c", MINI_SINK, str(port)]
        name = "a minimal Python sink (smtp-sink not installed)"
    process = subprocess.Popen(command)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port, name
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the sink did not start")


def workspace(subscribers: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-send-"))
    shutil.copytree(REPO / "tests" / "fixtures" / "example" / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    # A live send refuses the example's reserved sender domain (preflight): send as a
    # real-looking one, and --offline (the web version's URL cannot be reached from here).
    config = root / "content" / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        re.sub(r'(?m)^email = ".*"$', 'email = "dustin@sample-bodywork.net"', text),
        encoding="utf-8",
    )
    conn = database.connect(root / "data" / "newsletter.db")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, ?, 'bench', '', '', '')",
        (
            (f"reader{i}@example.org", f"reader{i}@example.org", f"Reader {i}")
            for i in range(subscribers)
        ),
    )
    conn.execute("COMMIT")
    conn.close()
    return root


def prebuilt(root: Path) -> tuple[Path, str, int]:
    """The issue's message for one reader, as the floor sends it to everyone."""
    config, rendered = build.render_workspace(Paths(root), "2026-12")
    job = sending.Job(root / "x.db", config, rendered, "live", SECRET, None)  # type: ignore[arg-type]
    message = job.template().render(
        make_recipient("reader0@example.org", "Reader 0", config=config, secret=SECRET)
    )
    path = root / "message.eml"
    path.write_bytes(message)
    return path, config.sender_email, len(message)


def floor(port: int, message: Path, sender: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", FLOOR, str(port), str(MESSAGES), sender, str(message)], check=True
    )
    return time.perf_counter() - started


RSS_SUBSCRIBERS = int(os.environ.get("BENCH_RSS_SUBSCRIBERS", "100000"))

MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr[-2000:])
print("MAXRSS", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def measured_send(root: Path, port: int, *extra: str) -> tuple[float, int]:
    """(msg/s from the send's own summary, its peak RSS in MB) of one `newsletter send`."""
    reset_ledger(root)
    command = [
        *(sys.executable, "-c", MEASURED, sys.executable, "-m", "newsletter"),
        *("--root", str(root), "send", "2026-12", "--yes", "--offline", *extra),
    ]
    result = subprocess.run(command, env=send_env(port), capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"newsletter send failed:\n{result.stdout}\n{result.stderr}")
    found = re.search(r"\(([\d,.]+)/s\)", result.stdout)
    rss = re.search(r"MAXRSS (\d+)", result.stdout)
    assert found is not None and rss is not None
    return float(found.group(1).replace(",", "")), int(rss.group(1)) // 1024


def send_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_PORT": str(port),
        "NEWSLETTER_SMTP_SECURITY": "none",
        "NEWSLETTER_SECRET": SECRET,
    }


def newsletter_send(root: Path, port: int, *extra: str) -> float:
    reset_ledger(root)
    env = send_env(port)
    command = [
        *(sys.executable, "-m", "newsletter", "--root", str(root)),
        *("send", "2026-12", "--yes", "--offline", *extra),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or f"{MESSAGES:,} sent" not in result.stdout:
        raise SystemExit(
            f"newsletter send failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return elapsed


def reset_ledger(root: Path) -> None:
    conn = sqlite3.connect(root / "data" / "newsletter.db")
    conn.execute("DELETE FROM deliveries")
    conn.execute("DELETE FROM send_runs")
    conn.commit()
    conn.close()


def fdatasync_ms(folder: Path, times: int = 200) -> float:
    """Median time to flush an 8 KB write to disk here: what each durable commit waits for."""
    path = folder / "fsync-probe"
    spent = []
    with path.open("wb") as out:
        for _ in range(times):
            out.write(b"\0" * 8192)
            out.flush()
            started = time.perf_counter()
            os.fdatasync(out.fileno())
            spent.append(time.perf_counter() - started)
    path.unlink()
    return statistics.median(spent) * 1000


def main() -> None:
    sink, port, sink_name = start_sink()
    try:
        root = workspace(MESSAGES)
        message, sender, size = prebuilt(root)
        rounds: list[tuple[float, float]] = []
        loose: list[float] = []
        """The same send without flushing each commit to disk: what the fsyncs cost."""
        for _ in range(ROUNDS):
            f = floor(port, message, sender)
            s = newsletter_send(root, port)
            rounds.append((f, s))
            loose.append(newsletter_send(root, port, "--no-fsync"))
        print(
            f"\n{MESSAGES:,} messages of {size / 1024:.1f} KB to {sink_name}, one connection, "
            f"whole processes, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
            f"fdatasync {fdatasync_ms(root / 'data'):.2f} ms (median)"
        )
        print(
            f"{'round':<7}{'smtplib loop':>14}{'newsletter send':>17}{'speed-up':>10}"
            f"{'--no-fsync':>12}{'speed-up':>10}"
        )
        for i, ((f, s), n) in enumerate(zip(rounds, loose, strict=True), start=1):
            print(f"{i:<7}{f:>12.2f} s{s:>15.2f} s{f / s:>9.2f}x{n:>10.2f} s{f / n:>9.2f}x")
        ratio = statistics.median(f / s for f, s in rounds)
        print(
            f"median speed-up {ratio:.2f}x (target >= 1.2x); send "
            f"{MESSAGES / statistics.median(s for _, s in rounds):,.0f} msg/s, floor "
            f"{MESSAGES / statistics.median(f for f, _ in rounds):,.0f} msg/s"
        )
        print(
            "median speed-up without the per-message fsync "
            f"{statistics.median(f / n for (f, _), n in zip(rounds, loose, strict=True)):.2f}x"
        )
        one, one_rss = measured_send(root, port)
        four, four_rss = measured_send(root, port, "--connections", "4")
        print(
            f"the send's own rate (its summary, after start-up): 1 connection {one:,.0f} msg/s "
            f"({one_rss} MB peak), --connections 4 {four:,.0f} msg/s ({four_rss} MB peak)"
        )
        shutil.rmtree(root)
        if RSS_SUBSCRIBERS:
            big = workspace(RSS_SUBSCRIBERS)
            rate, rss = measured_send(big, port)
            print(
                f"{RSS_SUBSCRIBERS:,} subscribers, 1 connection: {rate:,.0f} msg/s, "
                f"peak RSS {rss} MB (target <= 100 MB)"
            )
            shutil.rmtree(big)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait()


if __name__ == "__main__":
    main()
