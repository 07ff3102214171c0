# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Which of atime/mtime/ctime each operation changes, on the file and on its directory (Linux's rules).

atime on read is left out: it depends on mount options (relatime, noatime), not on the filesystem.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from lxfs.conformance.model import Tester, write_file

Watched = bytes | tuple[bytes, bytes]
T0 = 1_000_000_000 * 10**9  # 2001-09-09: far from "now", so any update shows


def _changes(watch: dict[str, Watched], op: Callable[[], object], fields: tuple[str, ...]) -> list[str]:
    """``watch``: label -> path, or (path before, path after) for what the operation moves."""
    paths = {label: (w, w) if isinstance(w, bytes) else w for label, w in watch.items()}
    before = {}
    for label, (path, _) in paths.items():
        os.utime(path, ns=(T0, T0), follow_symlinks=False)
        before[label] = os.stat(path, follow_symlinks=False)
    time.sleep(0.02)  # tmpfs and others take times from a clock that ticks every few ms
    op()
    out = []
    for label, (_, path) in paths.items():
        st = os.stat(path, follow_symlinks=False)
        old = before[label]
        for field in fields:
            if getattr(st, f"st_{field}_ns") != getattr(old, f"st_{field}_ns"):
                out.append(f"{label}.{field}")
    return out


def run(t: Tester) -> None:
    p = t.p
    os.mkdir(p("d"))
    os.mkdir(p("e"))
    d, e = p("d"), p("e")
    f = p("d", "f")
    write_file(f, b"data")

    def case(
        name: str,
        expected: list[str],
        watch: dict[str, Watched],
        op: Callable[[], object],
        fields: tuple[str, ...] = ("atime", "mtime", "ctime"),
    ) -> None:
        t.expect(name, expected, lambda: _changes(watch, op, fields))

    case("create_changes_dir_mtime_ctime", ["dir.mtime", "dir.ctime"], {"dir": d}, lambda: write_file(p("d", "new")))
    case(
        "write_changes_file_mtime_ctime",
        ["file.mtime", "file.ctime"],
        {"file": f, "dir": d},
        lambda: _pwrite(f, b"more", 2),
    )
    case("chmod_changes_ctime_only", ["file.ctime"], {"file": f, "dir": d}, lambda: os.chmod(f, 0o640))
    case("chown_changes_ctime_only", ["file.ctime"], {"file": f}, lambda: os.chown(f, os.getuid(), os.getgid()))
    case("truncate_changes_mtime_ctime", ["file.mtime", "file.ctime"], {"file": f}, lambda: os.truncate(f, 1))
    case("ftruncate_same_size_changes_mtime_ctime", ["file.mtime", "file.ctime"], {"file": f}, lambda: _ftruncate(f, 1))
    case(
        "open_trunc_changes_mtime_ctime",
        ["file.mtime", "file.ctime"],
        {"file": f},
        lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)),
    )
    case(
        "open_trunc_of_empty_file_changes_mtime_ctime",
        ["file.mtime", "file.ctime"],
        {"file": f},
        lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)),
    )
    case("open_without_trunc_changes_nothing", [], {"file": f, "dir": d}, lambda: os.close(os.open(f, os.O_RDWR)))
    case(
        "link_changes_file_ctime_and_dir",
        ["file.ctime", "dir.mtime", "dir.ctime"],
        {"file": f, "dir": d},
        lambda: os.link(f, p("d", "f2")),
    )
    case(
        "unlink_changes_file_ctime_and_dir",
        ["file.ctime", "dir.mtime", "dir.ctime"],
        {"file": f, "dir": d},
        lambda: os.unlink(p("d", "f2")),
    )
    case(
        "rename_in_dir_changes_dir_and_file_ctime",
        ["file.ctime", "dir.mtime", "dir.ctime"],
        {"file": (f, p("d", "g")), "dir": d},
        lambda: os.rename(f, p("d", "g")),
    )
    g = p("d", "g")
    case(
        "rename_across_dirs_changes_both_dirs",
        ["file.ctime", "src.mtime", "src.ctime", "dst.mtime", "dst.ctime"],
        {"file": (g, p("e", "g")), "src": d, "dst": e},
        lambda: os.rename(g, p("e", "g")),
    )
    case("mkdir_changes_parent_mtime_ctime", ["dir.mtime", "dir.ctime"], {"dir": d}, lambda: os.mkdir(p("d", "sub")))
    case("rmdir_changes_parent_mtime_ctime", ["dir.mtime", "dir.ctime"], {"dir": d}, lambda: os.rmdir(p("d", "sub")))
    case(
        "symlink_changes_parent_mtime_ctime",
        ["dir.mtime", "dir.ctime"],
        {"dir": d},
        lambda: os.symlink(b"x", p("d", "l")),
    )
    g = p("e", "g")
    case("setxattr_changes_ctime_only", ["file.ctime"], {"file": g}, lambda: os.setxattr(g, b"user.t", b"1"))
    case("utime_now_changes_all_three", ["file.atime", "file.mtime", "file.ctime"], {"file": g}, lambda: os.utime(g))
    case("readdir_does_not_change_mtime_ctime", [], {"dir": d}, lambda: os.listdir(d), ("mtime", "ctime"))
    t.expect(
        "utime_sets_exact_ns",
        [123_456_789_012_345_678, 987_654_321_123_456_789],
        lambda: (
            os.utime(g, ns=(123_456_789_012_345_678, 987_654_321_123_456_789)),
            [os.stat(g).st_atime_ns, os.stat(g).st_mtime_ns],
        )[1],
    )
    t.expect(
        "utime_on_symlink_itself",
        T0 + 7,
        lambda: (os.utime(p("d", "l"), ns=(T0 + 7, T0 + 7), follow_symlinks=False), os.lstat(p("d", "l")).st_mtime_ns)[
            1
        ],
    )
    t.expect("new_file_has_equal_times", True, lambda: _equal_times(p("d", "fresh")))


def _pwrite(path: bytes, data: bytes, offset: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _ftruncate(path: bytes, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _equal_times(path: bytes) -> bool:
    write_file(path)
    st = os.stat(path)
    return st.st_atime_ns == st.st_mtime_ns == st.st_ctime_ns
