# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""truncate/ftruncate and sparse files: holes read as zeros, shrinking discards data."""

from __future__ import annotations

import os

from lxfs.conformance.model import Tester, errno_name, read_file, write_file

MIB = 1 << 20


def run(t: Tester) -> None:
    p = t.p
    write_file(p("f"), b"0123456789")
    t.expect("truncate_shrinks", b"0123", lambda: (os.truncate(p("f"), 4), read_file(p("f")))[1])
    t.expect("truncate_grows_with_zeros", b"0123\0\0\0\0", lambda: (os.truncate(p("f"), 8), read_file(p("f")))[1])
    t.expect(
        "shrink_then_grow_gives_zeros",
        b"01\0\0\0\0",
        lambda: (os.truncate(p("f"), 2), os.truncate(p("f"), 6), read_file(p("f")))[2],
    )
    t.expect("truncate_negative_is_EINVAL", "EINVAL", lambda: os.truncate(p("f"), -1))
    os.mkdir(p("d"))
    t.expect("truncate_dir_is_EISDIR", "EISDIR", lambda: os.truncate(p("d"), 0))
    t.expect("truncate_missing_is_ENOENT", "ENOENT", lambda: os.truncate(p("none"), 0))
    fd = os.open(p("f"), os.O_RDONLY)
    try:
        t.expect("ftruncate_on_rdonly_fd_is_EINVAL", "EINVAL", lambda: os.ftruncate(fd, 0))
    finally:
        os.close(fd)

    fd = os.open(p("sparse"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        t.expect(
            "write_past_eof_leaves_hole",
            [10 * MIB + 3, b"\0" * 8, b"end"],
            lambda: (
                os.pwrite(fd, b"end", 10 * MIB),
                [os.fstat(fd).st_size, os.pread(fd, 8, 5 * MIB), os.pread(fd, 3, 10 * MIB)],
            )[1],
        )
        t.expect("hole_uses_no_blocks", True, lambda: os.fstat(fd).st_blocks * 512 < MIB)
        t.expect("read_across_hole_boundary", b"\0\0e", lambda: os.pread(fd, 3, 10 * MIB - 2))
        t.expect("read_at_eof_is_empty", b"", lambda: os.pread(fd, 10, 10 * MIB + 3))
        t.expect(
            "ftruncate_grows_sparse",
            [20 * MIB, b"\0" * 4],
            lambda: (os.ftruncate(fd, 20 * MIB), [os.fstat(fd).st_size, os.pread(fd, 4, 15 * MIB)])[1],
        )
        t.expect(
            "ftruncate_into_data_trims",
            [10 * MIB + 1, b"e"],
            lambda: (os.ftruncate(fd, 10 * MIB + 1), [os.fstat(fd).st_size, os.pread(fd, 10, 10 * MIB)])[1],
        )
        data = bytes(range(256)) * 1024  # 256 KiB crossing chunk boundaries
        t.expect(
            "unaligned_write_reads_back",
            True,
            lambda: (os.pwrite(fd, data, 12345), os.pread(fd, len(data), 12345) == data)[1],
        )
        t.expect("bytes_before_unaligned_write_are_zero", b"\0" * 16, lambda: os.pread(fd, 16, 12345 - 16))
    finally:
        os.close(fd)

    # SEEK_DATA/SEEK_HOLE over extents aligned to 128 KiB (a VolFs chunk; tmpfs and ext4 track finer)
    fd = os.open(p("extents"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        ext = 128 << 10
        os.pwrite(fd, b"d" * ext, 0)
        os.pwrite(fd, b"d" * ext, MIB)
        os.ftruncate(fd, 3 * MIB)

        def seek(offset: int, whence: int) -> int | str:
            try:
                return os.lseek(fd, offset, whence)
            except OSError as exc:
                return errno_name(exc.errno)

        t.expect(
            "seek_hole_and_data_find_the_extents",
            [0, ext, MIB, MIB, MIB + ext, 2 * MIB, "ENXIO", "ENXIO"],
            lambda: [
                seek(0, os.SEEK_DATA),
                seek(0, os.SEEK_HOLE),
                seek(ext + 5, os.SEEK_DATA),
                seek(MIB, os.SEEK_DATA),
                seek(MIB + 1, os.SEEK_HOLE),
                seek(2 * MIB, os.SEEK_HOLE),
                seek(2 * MIB, os.SEEK_DATA),
                seek(3 * MIB, os.SEEK_HOLE),
            ],
        )
    finally:
        os.close(fd)
