# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1]. EOPNOTSUPP is named ENOTSUP (same number).
"""fallocate(2): allocating grows the size (zeros beyond the old end), KEEP_SIZE keeps it, PUNCH_HOLE
makes a range read as zeros, the argument checks in vfs_fallocate()'s order, and a file_modified() as a
write does (times change, suid goes for a caller without CAP_FSETID)."""

from __future__ import annotations

import ctypes
import os
import stat

from lxfs.conformance.model import Tester, read_file, write_file

KEEP_SIZE, PUNCH_HOLE = 0x01, 0x02
KIB = 1 << 10
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) itself (os.posix_fallocate would write zeros where the filesystem says EOPNOTSUPP)."""
    if _libc.fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def run(t: Tester) -> None:
    p = t.p
    data = bytes(range(256)) * 1200  # 300 KiB: more than two of VolFs's 128 KiB chunks

    def reopen(name: str, content: bytes, flags: int = os.O_RDWR) -> int:
        write_file(p(name), content)
        return os.open(p(name), flags)

    def state(fd: int) -> list[object]:
        return [os.fstat(fd).st_size, os.pread(fd, 1 << 20, 0)]

    fd = reopen("grow", b"0123456789")
    try:
        t.expect(
            "allocate_past_eof_grows_with_zeros",
            [200 * KIB, b"0123456789" + bytes(200 * KIB - 10)],
            lambda: (fallocate(fd, 0, 0, 200 * KIB), state(fd))[1],
        )
        t.expect(
            "allocate_inside_changes_nothing",
            [200 * KIB, b"0123456789" + bytes(200 * KIB - 10)],
            lambda: (fallocate(fd, 0, 5, 100), state(fd))[1],
        )
        t.expect(
            "keep_size_keeps_the_size",
            [200 * KIB, b"0123456789" + bytes(200 * KIB - 10)],
            lambda: (fallocate(fd, KEEP_SIZE, 0, 1 << 20), state(fd))[1],
        )
    finally:
        os.close(fd)

    fd = reopen("punch", data)
    try:
        t.expect(
            "punch_hole_reads_as_zeros",
            [len(data), data[:1000] + bytes(200_000) + data[201_000:]],
            lambda: (fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 1000, 200_000), state(fd))[1],
        )
        t.expect(
            "punch_hole_across_eof_keeps_the_size",
            [len(data), data[:1000] + bytes(200_000) + data[201_000:-10] + bytes(10)],
            lambda: (fallocate(fd, PUNCH_HOLE | KEEP_SIZE, len(data) - 10, 1 << 20), state(fd))[1],
        )
        t.expect("punch_hole_without_keep_size_is_EOPNOTSUPP", "ENOTSUP", lambda: fallocate(fd, PUNCH_HOLE, 0, 10))
        t.expect("unknown_mode_is_EOPNOTSUPP", "ENOTSUP", lambda: fallocate(fd, 0x1000, 0, 10))
        t.expect("zero_length_is_EINVAL", "EINVAL", lambda: fallocate(fd, 0, 0, 0))
        t.expect("negative_offset_is_EINVAL", "EINVAL", lambda: fallocate(fd, 0, -1, 10))
        t.expect("nothing_changed_by_the_failures", len(data), lambda: os.fstat(fd).st_size)
    finally:
        os.close(fd)

    fd = reopen("appending", data, os.O_WRONLY | os.O_APPEND)
    try:
        t.expect(
            "punch_hole_through_o_append_punches_in_place",
            [len(data), bytes(100) + data[100:]],
            lambda: (
                fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 0, 100),
                [os.stat(p("appending")).st_size, read_file(p("appending"))],
            )[1],
        )
    finally:
        os.close(fd)

    fd = reopen("ro", b"x", os.O_RDONLY)
    try:
        t.expect("read_only_descriptor_is_EBADF", "EBADF", lambda: fallocate(fd, 0, 0, 10))
        t.expect("read_only_descriptor_checks_mode_first", "ENOTSUP", lambda: fallocate(fd, PUNCH_HOLE, 0, 10))
    finally:
        os.close(fd)

    def times_and_mode(fd: int) -> list[object]:
        st = os.fstat(fd)
        return [st.st_mtime_ns != 1_000_000_000, st.st_ctime_ns != before[0], stat.S_IMODE(st.st_mode)]

    write_file(p("modified"), data, 0o755)
    os.chmod(p("modified"), 0o6755)
    os.utime(p("modified"), ns=(1_000_000_000, 1_000_000_000))
    before = [os.stat(p("modified")).st_ctime_ns]
    fd = os.open(p("modified"), os.O_RDWR)
    try:
        # file_modified(): a caller without CAP_FSETID loses suid, and sgid of a group-executable file
        kept = 0o6755 if os.geteuid() == 0 else 0o755
        t.expect(
            "allocating_changes_times_and_drops_suid",
            [True, True, kept],
            lambda: (fallocate(fd, KEEP_SIZE, 0, 10), times_and_mode(fd))[1],
        )
    finally:
        os.close(fd)

    os.mkfifo(p("fifo"))
    fd = os.open(p("fifo"), os.O_RDWR)
    try:
        t.expect("fifo_is_ESPIPE", "ESPIPE", lambda: fallocate(fd, 0, 0, 10))
    finally:
        os.close(fd)
