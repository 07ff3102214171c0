"""The floor under VolFs's create+stat+unlink: the same SQL VolFs runs for a create and an unlink (two
write transactions, WAL, synchronous=NORMAL, its schema and page size) from a bare sqlite3 loop with no
VFS and no Python filesystem code, on disk and on tmpfs, beside the smallest possible pair of write
transactions (one-row insert, one-row delete). Whatever this loop reaches is out of reach for VolFs
through the VFS, which adds its Python on top. Writes its section of bench/RESULTS.md.

    python bench/bench_sqlite_floor.py [--runs 3] [--pairs 2000] [--dir /tmp] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from lxfs.volfs.layout import PAGE_SIZE
from lxfs.volfs.volfs import VolFs

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- sqlite-floor:start -->", "<!-- sqlite-floor:end -->"


def connect(directory: str) -> sqlite3.Connection:
    image = Path(tempfile.mkdtemp(dir=directory)) / "floor.lxfs"
    VolFs.create_image(image).close()
    db = sqlite3.connect(image, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "wal_autocheckpoint = 0", "secure_delete = FAST"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE floor (k INTEGER PRIMARY KEY, v)")
    return db


def volfs_sql(db: sqlite3.Connection, n: int) -> float:
    """Pairs/s of VolFs's create and unlink transactions (statements as lxfs/volfs/volfs.py runs them)."""
    t0 = time.perf_counter()
    for i in range(n):
        name, h = b"c%d" % i, i * 7919
        db.execute("BEGIN IMMEDIATE")
        ino = db.execute(
            "INSERT INTO inode (mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime, generation, target,"
            " parent) VALUES (33188, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, NULL, NULL)"
        ).lastrowid
        db.execute("INSERT INTO dentry (parent, hash, name, ino, type) VALUES (1, ?, ?, ?, 8)", (h, name, ino))
        db.execute("UPDATE inode SET atime = ?, mtime = ?, ctime = ? WHERE ino = 1", (i, i, i))
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM dentry WHERE parent = 1 AND hash = ? AND name = ?", (h, name))
        db.execute("DELETE FROM inode WHERE ino = ?", (ino,))
        db.execute("UPDATE inode SET atime = ?, mtime = ?, ctime = ? WHERE ino = 1", (i, i, i))
        db.execute("COMMIT")
    return n / (time.perf_counter() - t0)


def one_row(db: sqlite3.Connection, n: int) -> float:
    """Pairs/s of the smallest write transactions: insert one row, delete it."""
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO floor VALUES (?, 1)", (i,))
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM floor WHERE k = ?", (i,))
        db.execute("COMMIT")
    return n / (time.perf_counter() - t0)


def measure(directory: str, runs: int, pairs: int) -> tuple[float, float]:
    db = connect(directory)
    try:
        volfs_sql(db, 200)  # warm the page cache and the WAL
        full = statistics.median(volfs_sql(db, pairs) for _ in range(runs))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        small = statistics.median(one_row(db, pairs) for _ in range(runs))
    finally:
        db.close()
    return full, small


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"), help="the on-disk directory")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    disk = measure(args.dir, args.runs, args.pairs)
    shm = measure("/dev/shm", args.runs, args.pairs) if os.path.isdir("/dev/shm") else (float("nan"),) * 2
    load = os.getloadavg()[0]
    section = "\n".join(
        [
            START,
            "## SQLite floor under create+stat+unlink (bench/bench_sqlite_floor.py)",
            "",
            f"A bare sqlite3 loop, no VFS: VolFs's schema and pragmas ({PAGE_SIZE // 1024} KiB pages, WAL,",
            f"synchronous=NORMAL), median of {args.runs} runs of {args.pairs} pairs; load average {load:.1f}.",
            "",
            f"| transaction pair per create+unlink | {args.dir} (disk) | /dev/shm |",
            "|---|---:|---:|",
            f"| VolFs's SQL (2 commits, 3 statements each), pairs/s | {disk[0]:,.0f} | {shm[0]:,.0f} |",
            f"| one-row insert + one-row delete, pairs/s | {disk[1]:,.0f} | {shm[1]:,.0f} |",
            "",
            "VolFs through the VFS adds its Python (~100 us an iteration) on top of the first row, so its",
            "create+stat+unlink/s stays below it (bench_volfs.py).",
            END,
        ]
    )
    print(section)
    if not args.no_write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if START in text:
            text = re.sub(re.escape(START) + ".*" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
