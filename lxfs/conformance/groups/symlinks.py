# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Symbolic links: readlink, dangling links, loops (ELOOP at 40 follows), relative targets."""

from __future__ import annotations

import os
import stat

from lxfs.conformance.model import Tester, read_file, write_file
from lxfs.linux import MAXSYMLINKS


def run(t: Tester) -> None:
    p = t.p
    write_file(p("file"), b"content")
    os.mkdir(p("dir"))
    target = b"odd \xff\x01 target/../file"
    t.expect("readlink_returns_target_bytes", target, lambda: (os.symlink(target, p("odd")), os.readlink(p("odd")))[1])
    t.expect("symlink_size_is_target_length", len(target), lambda: os.lstat(p("odd")).st_size)
    t.expect("symlink_mode_is_0777", 0o777, lambda: os.lstat(p("odd")).st_mode & 0o7777)
    t.expect("symlink_type", True, lambda: stat.S_ISLNK(os.lstat(p("odd")).st_mode))
    t.expect("symlink_over_existing_is_EEXIST", "EEXIST", lambda: os.symlink(b"x", p("file")))
    t.expect("symlink_empty_target_is_ENOENT", "ENOENT", lambda: os.symlink(b"", p("empty")))
    t.expect("readlink_of_file_is_EINVAL", "EINVAL", lambda: os.readlink(p("file")))
    t.expect("readlink_of_missing_is_ENOENT", "ENOENT", lambda: os.readlink(p("none")))
    os.symlink(b"nowhere", p("dangling"))
    t.expect("dangling_stat_is_ENOENT", "ENOENT", lambda: os.stat(p("dangling")))
    t.expect("dangling_lstat_is_symlink", True, lambda: stat.S_ISLNK(os.lstat(p("dangling")).st_mode))
    os.symlink(b"loop2", p("loop1"))
    os.symlink(b"loop1", p("loop2"))
    os.symlink(b"self", p("self"))
    t.expect("loop_stat_is_ELOOP", "ELOOP", lambda: os.stat(p("loop1")))
    t.expect("self_loop_open_is_ELOOP", "ELOOP", lambda: os.open(p("self"), os.O_RDONLY))
    t.expect("loop_as_directory_is_ELOOP", "ELOOP", lambda: os.stat(p("loop1", "x")))
    t.expect(
        "relative_target_resolves_from_link_dir",
        b"content",
        lambda: (os.symlink(b"../file", p("dir", "up")), read_file(p("dir", "up")))[1],
    )
    t.expect("absolute_target_resolves", b"content", lambda: (os.symlink(p("file"), p("abs")), read_file(p("abs")))[1])
    t.expect(
        "symlink_to_dir_walks_through", b"content", lambda: (os.symlink(b"dir", p("dl")), read_file(p("dl", "up")))[1]
    )
    t.expect("lstat_with_trailing_slash_follows", True, lambda: stat.S_ISDIR(os.lstat(p("dl", "")).st_mode))
    # A chain of n links needs n follows; Linux allows MAXSYMLINKS (40).
    prev = b"file"
    for i in range(MAXSYMLINKS + 1):
        os.symlink(prev, p(f"chain{i}"))
        prev = b"chain%d" % i
    t.expect("chain_of_40_links_resolves", b"content", lambda: read_file(p(f"chain{MAXSYMLINKS - 1}")))
    t.expect("chain_of_41_links_is_ELOOP", "ELOOP", lambda: read_file(p(f"chain{MAXSYMLINKS}")))
    t.expect(
        "symlink_owner_is_creator",
        [os.geteuid(), os.getegid()],
        lambda: [os.lstat(p("odd")).st_uid, os.lstat(p("odd")).st_gid],
    )
