"""Differential tests of rename(2)/renameat2(2): every error case and the link-count bookkeeping."""

from __future__ import annotations

import os
from collections.abc import Callable

from lxfs.vfs.interfaces import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT

Diff = Callable[[Callable[..., None]], None]


def _tree(s) -> None:
    s.mkdir("a")
    s.mkdir("a/b")
    s.mkdir("a/b/c")
    s.mkdir("e")
    s.mkdir("full")
    s.close(s.open("full/x", os.O_CREAT | os.O_WRONLY, 0o644))
    s.close(s.open("f", os.O_CREAT | os.O_WRONLY, 0o644))
    s.close(s.open("g", os.O_CREAT | os.O_WRONLY, 0o644))
    s.link("f", "f2")
    s.symlink("a", "la")


def test_rename_error_cases(differential: Diff) -> None:
    def scenario(s):
        _tree(s)
        for old, new in [
            ("a", "a/b/new"),  # into own subtree
            ("a", "a/new"),
            ("a/b", "a"),  # onto an ancestor
            ("a/b/c", "a"),
            ("a", "a"),
            (".", "x"),
            ("..", "x"),
            ("a/.", "x"),
            ("x", "."),
            ("f", "."),
            ("f", "a/.."),
            ("", "x"),
            ("f", ""),
            ("missing", "x"),
            ("f", "missing/x"),
            ("f", "a"),  # file onto dir
            ("a", "f"),  # dir onto file
            ("e", "full"),  # onto a non-empty dir
            ("f", "f/"),
            ("f/", "x"),
            ("a/", "anew/"),
            ("f", "fnew/"),
            ("la/", "x"),
            ("f", "f2"),  # hard links of one inode: nothing happens
            ("f", "f"),
        ]:
            s.rename(old, new)
        s.listdir(".")
        s.listdir("a")
        s.stat("f")
        s.stat("f2")

    differential(scenario)


def test_rename_moves_and_link_counts(differential: Diff) -> None:
    def scenario(s):
        _tree(s)
        s.stat("a")
        s.stat("e")
        s.rename("a/b", "e/b")
        s.stat("a")
        s.stat("e")
        s.stat("e/b")
        s.stat("e/b/..")
        s.rename("e/b", "full")  # ENOTEMPTY
        s.unlink("full/x")
        s.stat("full")
        s.rename("e/b", "full")  # replaces the empty dir
        s.stat("full")
        s.stat("e")
        s.stat("full/c/..")
        s.rename("f", "g")  # replaces a file
        s.stat("g")
        s.stat("f2")
        s.rename("la", "lb")
        s.lstat("lb")
        s.rename("a/", "a2/")
        s.stat("a2")
        s.listdir(".")

    differential(scenario)


def test_renameat2_flags(differential: Diff) -> None:
    def scenario(s):
        _tree(s)
        s.rename("f", "g", RENAME_NOREPLACE)
        s.rename("f", "new", RENAME_NOREPLACE)
        s.rename("new", ".", RENAME_NOREPLACE)
        s.rename("g", "missing", RENAME_EXCHANGE)
        s.rename("g", "a", RENAME_EXCHANGE)  # file <-> dir
        s.stat("g")
        s.stat("a")
        s.stat("g/b")
        s.rename("g", "a", RENAME_EXCHANGE)
        s.rename("e", "full", RENAME_EXCHANGE)  # exchange with a non-empty dir is fine
        s.listdir("e")
        s.rename("a", "a/b", RENAME_EXCHANGE)
        s.rename("a/b", "a", RENAME_EXCHANGE)
        s.rename("f2", "a/b/c", RENAME_EXCHANGE)
        s.stat("a/b")
        s.stat("a/b/c")
        s.rename("e", "full", RENAME_EXCHANGE | RENAME_NOREPLACE)
        s.rename("e", "full", 64)
        s.rename("e", "x", RENAME_WHITEOUT | RENAME_EXCHANGE)
        s.rename("new", "new", RENAME_EXCHANGE)
        s.listdir(".")

    differential(scenario)


def test_rename_timestamps(differential: Diff) -> None:
    def scenario(s):
        _tree(s)
        s.stat("a")
        s.stat("e")
        s.stat("a/b")
        s.stat("g")
        s.rename("a/b", "e/b2")
        s.stat("a")
        s.stat("e")
        s.stat("e/b2")
        s.rename("f", "g")
        s.stat(".")
        s.stat("f2")

    differential(scenario)


def test_rename_open_file_keeps_reading(differential: Diff) -> None:
    def scenario(s):
        fd = s.open("f", os.O_CREAT | os.O_RDWR, 0o644)
        s.write(fd, b"content")
        s.close(s.open("g", os.O_CREAT | os.O_WRONLY, 0o644))
        s.rename("g", "f")  # f's inode is now unlinked but open
        s.fstat(fd)
        s.pread(fd, 100, 0)
        s.write(fd, b"more")
        s.fstat(fd)
        s.stat("f")
        s.close(fd)

    differential(scenario)
