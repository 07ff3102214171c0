# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Open files outlive their names: unlink and rename while open; fstat/read/write/ftruncate keep working."""

from __future__ import annotations

import os

from lxfs.conformance.model import Tester, read_file, write_file


def run(t: Tester) -> None:
    p = t.p
    write_file(p("f"), b"hello")
    fd = os.open(p("f"), os.O_RDWR)
    try:
        t.expect("unlink_while_open_is_ok", "ok", lambda: os.unlink(p("f")))
        t.expect("name_is_gone", "ENOENT", lambda: os.stat(p("f")))
        t.expect("no_hidden_files_appear", [], lambda: sorted(os.listdir(t.dir)))
        t.expect("fstat_shows_nlink_0", 0, lambda: os.fstat(fd).st_nlink)
        t.expect("read_still_works", b"hello", lambda: os.pread(fd, 100, 0))
        t.expect("write_still_works", 6, lambda: os.pwrite(fd, b" world", 5))
        t.expect("fstat_size_follows_writes", 11, lambda: os.fstat(fd).st_size)
        t.expect(
            "ftruncate_still_works",
            [3, b"hel"],
            lambda: (os.ftruncate(fd, 3), [os.fstat(fd).st_size, os.pread(fd, 100, 0)])[1],
        )
        t.expect("fchmod_still_works", 0o600, lambda: (os.fchmod(fd, 0o600), os.fstat(fd).st_mode & 0o7777)[1])
        t.expect(
            "new_file_with_same_name_is_separate",
            [b"new", b"hel"],
            lambda: (write_file(p("f"), b"new"), [read_file(p("f")), os.pread(fd, 100, 0)])[1],
        )
    finally:
        os.close(fd)
    t.expect("after_close_only_new_file_remains", ["f"], lambda: sorted(os.fsdecode(n) for n in os.listdir(t.dir)))

    write_file(p("r"), b"rename me")
    fd = os.open(p("r"), os.O_RDWR)
    try:
        ino = os.fstat(fd).st_ino
        t.expect("rename_while_open_is_ok", "ok", lambda: os.rename(p("r"), p("r2")))
        t.expect("fd_follows_renamed_inode", True, lambda: os.stat(p("r2")).st_ino == ino)
        t.expect(
            "write_after_rename_visible_by_new_name",
            b"RENAME me",
            lambda: (os.pwrite(fd, b"RENAME", 0), read_file(p("r2")))[1],
        )
        write_file(p("other"), b"other")
        t.expect(
            "replaced_by_rename_while_open",
            [b"other", b"RENAME me", 0],
            lambda: (os.rename(p("other"), p("r2")), [read_file(p("r2")), os.pread(fd, 100, 0), os.fstat(fd).st_nlink])[
                1
            ],
        )
    finally:
        os.close(fd)

    os.mkdir(p("dir"))
    dfd = os.open(p("dir"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        t.expect("rmdir_while_open_is_ok", "ok", lambda: os.rmdir(p("dir")))
        t.expect("fstat_of_removed_dir_has_nlink_0", 0, lambda: os.fstat(dfd).st_nlink)
        t.expect(
            "create_in_removed_dir_is_ENOENT",
            "ENOENT",
            lambda: os.open(b"x", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd),
        )
    finally:
        os.close(dfd)
