"""Time a 100,000-row subscriber import and measure the memory of streaming the list.

Run: .venv/bin/python tests/benchmarks/bench_import.py [ROWS]
Targets: import <= 5 s for 100,000 rows; streaming every active subscriber < 100 MB RSS.
"""

from __future__ import annotations

import csv
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsletter.mail.csvimport import import_csv  # noqa: E402

COMMON = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
          "comcast.net", "me.com", "msn.com", "bücher.de"]  # fmt: skip

# Peak memory is read from /proc/self/status (VmHWM): ru_maxrss of a child process also
# counts the parent's memory at fork on Linux, which would blame the benchmark's own import.
MEMORY_SCRIPT = """
import sys, tracemalloc
from pathlib import Path

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

mode, db = sys.argv[1], Path(sys.argv[2])
if mode == "stream":
    from newsletter.mail.database import connect
    from newsletter.mail.subscribers import iter_active
    conn = connect(db)
    before = hwm()
    tracemalloc.start()
    count = sum(1 for _ in iter_active(conn))
    peak = tracemalloc.get_traced_memory()[1]
else:
    from newsletter.mail.csvimport import import_csv
    before = hwm()
    tracemalloc.start()
    count = import_csv(db, Path(sys.argv[3]), path="clients.csv").counts.added
    peak = tracemalloc.get_traced_memory()[1]
print(count, before, hwm(), peak)
"""


def measure_memory(*args: str) -> tuple[int, int, int, int]:
    """(rows, KiB before, peak KiB, peak traced bytes) from a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, *args],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    rows, before, peak, traced = map(int, done.stdout.split())
    return rows, before, peak, traced


def write_csv(path: Path, rows: int) -> None:
    """A booking-system-like export: First/Last Name, mixed domains, a few unique ones."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["First Name", "Last Name", "E-mail Address", "Phone", "Consent"])
        for n in range(rows):
            domain = rng.choice(COMMON) if rng.random() < 0.8 else f"practice{n % 5000}.example"
            writer.writerow(
                [f"First{n}", f"Last {n}", f"Client.{n}@{domain}", f"555-{n:07d}",
                 "intake form newsletter box"]
            )  # fmt: skip


def cpu_seconds() -> float:
    """CPU time of this process and its finished children: on a shared machine the wall
    clock also counts other people's work and the disk's queue."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(label: str, action) -> tuple[str, float, float, object]:
    start, cpu = time.perf_counter(), cpu_seconds()
    value = action()
    return label, time.perf_counter() - start, cpu_seconds() - cpu, value


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    results: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "clients.csv"
        write_csv(source, rows)
        db = tmpdir / "in-process.db"

        label, seconds, cpu, result = timed(
            "import, in-process, empty database",
            lambda: import_csv(db, source, path="clients.csv"),
        )
        results.append((label, seconds, cpu, result.summary("clients.csv")))  # type: ignore[attr-defined]
        label, seconds, cpu, result = timed(
            "re-import, in-process (all unchanged)",
            lambda: import_csv(db, source, path="clients.csv"),
        )
        results.append((label, seconds, cpu, result.summary("clients.csv")))  # type: ignore[attr-defined]

        cli_db = tmpdir / "cli.db"
        newsletter = Path(sys.executable).with_name("newsletter")
        command = [str(newsletter), "subscribers", "import", str(source), "--db", str(cli_db)]
        label, seconds, cpu, done = timed(
            "import, CLI subprocess (incl. start-up)",
            lambda: subprocess.run(command, capture_output=True, text=True, check=True),
        )
        results.append((label, seconds, cpu, done.stdout.strip()))  # type: ignore[attr-defined]

        memory = {
            "stream all active subscribers": measure_memory("stream", str(db)),
            "import (fresh interpreter, empty database)": measure_memory(
                "import", str(tmpdir / "memory.db"), str(source)
            ),
        }

    print(f"Subscriber import benchmark: {rows:,} rows, Python {sys.version.split()[0]}")
    print(f"{'measurement':<42}{'seconds':>9}{'rows/s':>11}{'CPU s':>8}")
    for label, seconds, cpu, _ in results:
        print(f"{label:<42}{seconds:>9.2f}{rows / seconds:>11,.0f}{cpu:>8.2f}")
    for label, _, _, summary in results:
        print(f"  {label}: {summary}")
    print(f"{'memory':<42}{'rows':>9}{'peak RSS MB':>13}{'growth MB':>11}{'traced MB':>11}")
    for label, (count, before, peak, traced) in memory.items():
        print(
            f"{label:<42}{count:>9,}{peak / 1024:>13.1f}{(peak - before) / 1024:>11.1f}"
            f"{traced / 2**20:>11.2f}"
        )


if __name__ == "__main__":
    main()
