# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Large files: offsets beyond 4 GiB, reads crossing the 2^32 boundary, big sequential data."""

from __future__ import annotations

import hashlib
import os

from lxfs.conformance.model import Tester

GIB = 1 << 30


def run(t: Tester) -> None:
    path = t.p("big")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        t.expect("write_beyond_4GiB", 5 * GIB + 4, lambda: (os.pwrite(fd, b"tail", 5 * GIB), os.fstat(fd).st_size)[1])
        t.expect("read_beyond_4GiB", b"tail", lambda: os.pread(fd, 4, 5 * GIB))
        t.expect(
            "write_across_2_32",
            b"ABCD",
            lambda: (os.pwrite(fd, b"ABCD", (1 << 32) - 2), os.pread(fd, 4, (1 << 32) - 2))[1],
        )
        t.expect("lseek_end_beyond_4GiB", 5 * GIB + 4, lambda: os.lseek(fd, 0, os.SEEK_END))
        t.expect(
            "truncate_to_3GiB",
            [3 * GIB, b""],
            lambda: (os.ftruncate(fd, 3 * GIB), [os.fstat(fd).st_size, os.pread(fd, 4, 5 * GIB)])[1],
        )
        t.expect("sparse_large_file_uses_few_blocks", True, lambda: os.fstat(fd).st_blocks * 512 < (16 << 20))
    finally:
        os.close(fd)
    data = hashlib.sha256(b"seed").digest() * (8 * 1024 * 1024 // 32)  # 8 MiB
    seq = t.p("seq")
    fd = os.open(seq, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for off in range(0, len(data), 1 << 20):
            os.write(fd, data[off : off + (1 << 20)])
        t.expect("sequential_8MiB_size", len(data), lambda: os.fstat(fd).st_size)
    finally:
        os.close(fd)
    t.expect("sequential_8MiB_reads_back", hashlib.sha256(data).hexdigest(), lambda: _digest(seq))


def _digest(path: bytes) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, 1 << 17):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()
