# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""readdir(3): every entry exactly once, inode numbers and d_type agree with lstat, changes show up."""

from __future__ import annotations

import os

from lxfs.conformance.model import Tester, write_file


def _scan(path: bytes) -> list[tuple[bytes, int, str]]:
    """(name, inode, type from d_type) for every entry, sorted."""
    out = []
    with os.scandir(path) as it:
        for e in it:
            kind = (
                "dir"
                if e.is_dir(follow_symlinks=False)
                else "link"
                if e.is_symlink()
                else "file"
                if e.is_file(follow_symlinks=False)
                else "other"
            )
            out.append((e.name, e.inode(), kind))
    return sorted(out)


def run(t: Tester) -> None:
    p = t.p
    os.mkdir(p("d"))
    t.expect("empty_dir_lists_nothing", [], lambda: os.listdir(p("d")))
    names = {b"f%04d" % i for i in range(300)}
    for n in names:
        write_file(os.path.join(p("d"), n))
    t.expect("lists_every_entry_once", True, lambda: sorted(os.listdir(p("d"))) == sorted(names))
    os.mkdir(p("d", "sub"))
    os.symlink(b"f0000", p("d", "sym"))
    os.mkfifo(p("d", "fifo"))
    scan = _scan(p("d"))
    t.expect(
        "inode_matches_lstat", True, lambda: all(ino == os.lstat(os.path.join(p("d"), n)).st_ino for n, ino, _ in scan)
    )
    t.expect(
        "d_type_of_dir_link_fifo",
        ["dir", "link", "other"],
        lambda: [dict((n, k) for n, _, k in scan)[x] for x in (b"sub", b"sym", b"fifo")],
    )
    t.expect("dot_and_dotdot_are_there", True, lambda: _has_dots(p("d")))
    t.expect(
        "rename_shows_new_name_only",
        [False, True],
        lambda: (
            os.rename(p("d", "f0001"), p("d", "renamed")),
            [b"f0001" in os.listdir(p("d")), b"renamed" in os.listdir(p("d"))],
        )[1],
    )
    t.expect("unlink_removes_entry", False, lambda: (os.unlink(p("d", "f0002")), b"f0002" in os.listdir(p("d")))[1])
    t.expect("count_after_changes", 300 - 1 + 3, lambda: len(os.listdir(p("d"))))
    t.expect("listdir_of_file_is_ENOTDIR", "ENOTDIR", lambda: os.listdir(p("d", "f0000")))
    t.expect("long_names_listed", True, lambda: (write_file(p("d", "L" * 255)), b"L" * 255 in os.listdir(p("d")))[1])
    t.expect(
        "non_utf8_names_listed", True, lambda: (write_file(p("d", b"\xff\xfe")), b"\xff\xfe" in os.listdir(p("d")))[1]
    )
    t.expect("reopen_rewinds", True, lambda: _rewind_sees_all(p("d")))


def _has_dots(path: bytes) -> bool:
    # os.listdir hides . and ..; a raw getdents through os.scandir does too, so look them up directly.
    return os.stat(os.path.join(path, b".")).st_ino == os.stat(path).st_ino and os.path.isdir(os.path.join(path, b".."))


def _rewind_sees_all(path: bytes) -> bool:
    first = sorted(os.listdir(path))
    return first == sorted(os.listdir(path))
