"""One-click unsubscribes per second and their latency, 50 clients, against the real server.

Run: .venv/bin/python tests/benchmarks/bench_web.py [REQUESTS]
Targets: at least 500 unsubscribes/s back to back; p99 under 100 ms at 300 requests/s
offered. Each request unsubscribes a different subscriber (a real write), as Gmail's POST
does; the client is a small asyncio HTTP/1.1 loop with keep-alive, so it costs the server's
two cores little.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsletter import tokens  # noqa: E402
from newsletter.mail import database  # noqa: E402

CLIENTS = 50
SECRET = "bench-secret-bench-secret-bench-secret"
BODY = b"List-Unsubscribe=One-Click"


def workspace(folder: Path, readers: int) -> list[str]:
    shutil.copytree(ROOT / "tests" / "fixtures" / "example" / "content", folder / "content")
    shutil.copytree(ROOT / "templates", folder / "templates")
    conn = database.connect(folder / "data" / "newsletter.db")
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, '', 'bench', '', '', '')",
        [(f"r{i}@example.org", f"r{i}@example.org") for i in range(readers)],
    )
    ids = [
        row[0] for row in conn.execute("SELECT lower(hex(token_id)) FROM subscribers ORDER BY id")
    ]
    conn.close()
    return [tokens.sign_id(i, SECRET) for i in ids]


def start(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--root", str(folder), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(400):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    raise SystemExit("the server did not start")


def request(token: str) -> bytes:
    return (
        f"POST /unsubscribe?token={token} HTTP/1.1\r\nHost: news.example.org\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> None:
    writer.write(request(token))
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {head[:60]!r}")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)


async def run(port: int, todo: list[str], rate: float) -> tuple[float, list[float]]:
    """Send every token's POST over CLIENTS connections; rate 0 means back to back.

    With a rate, request i is due at i / rate and its latency counts from then (an open
    loop), so a slow answer cannot hide the queue behind it."""
    latencies: list[float] = []
    queue = list(reversed(todo))
    started = time.perf_counter()
    counter = iter(range(len(todo)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            token = queue.pop()
            due = started + next(counter) / rate if rate else time.perf_counter()
            if rate and due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            await one(reader, writer, token)
            latencies.append(time.perf_counter() - due)
        writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server so far (the machine is shared: wall time is not
    all ours)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        links = workspace(folder, 2 * count + 400)
        process, port = start(folder)
        try:
            asyncio.run(run(port, links[:200], 0))  # warm up: connections, page, threads
            cpu = cpu_seconds(process.pid)
            took, lat = asyncio.run(run(port, links[200 : 200 + count], 0))
            cpu = cpu_seconds(process.pid) - cpu
            print(
                f"back to back, {CLIENTS} clients: {count / took:,.0f} unsubscribes/s, "
                f"p50 {p(lat, 0.5):.1f} ms, p99 {p(lat, 0.99):.1f} ms (target >= 500/s); "
                f"server CPU {cpu / count * 1000:.2f} ms per unsubscribe"
            )
            paced = links[200 + count : 200 + 2 * count]
            took, lat = asyncio.run(run(port, paced, 300.0))
            print(
                f"300 requests/s offered, {CLIENTS} clients: {len(paced) / took:,.0f}/s done, "
                f"p50 {p(lat, 0.5):.1f} ms, p99 {p(lat, 0.99):.1f} ms (target p99 < 100 ms)"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        conn = database.connect(folder / "data" / "newsletter.db")
        done = conn.execute("SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")
        print(
            f"unsubscribed in the database: {done.fetchone()[0]:,} (of {2 * count + 200:,} posted)"
        )
        conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
