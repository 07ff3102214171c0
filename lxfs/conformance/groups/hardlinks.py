# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Hard links are one inode: a change through one name is seen through the other at once."""

from __future__ import annotations

import os

from lxfs.conformance.model import Tester, perm, read_file, write_file


def run(t: Tester) -> None:
    p = t.p
    write_file(p("a"), b"one")
    os.stat(p("a"))
    os.link(p("a"), p("b"))
    os.stat(p("b"))  # both names are now looked up (and may be cached by the kernel)
    t.expect("nlink_seen_through_first_name", 2, lambda: os.stat(p("a")).st_nlink)
    t.expect("write_via_one_read_via_other", b"two!", lambda: (write_file(p("a"), b"two!"), read_file(p("b")))[1])
    t.expect("size_via_other", 4, lambda: os.stat(p("b")).st_size)
    t.expect("chmod_via_one_stat_via_other", 0o600, lambda: (os.chmod(p("b"), 0o600), perm(p("a")))[1])
    t.expect(
        "utime_via_one_stat_via_other",
        1_000_000_000_000_000_000,
        lambda: (os.utime(p("a"), ns=(1, 1_000_000_000_000_000_000)), os.stat(p("b")).st_mtime_ns)[1],
    )
    t.expect("truncate_via_one_size_via_other", 2, lambda: (os.truncate(p("b"), 2), os.stat(p("a")).st_size)[1])
    t.expect(
        "xattr_via_one_get_via_other",
        b"v",
        lambda: (os.setxattr(p("a"), b"user.k", b"v"), os.getxattr(p("b"), b"user.k"))[1],
    )
    ctime = os.stat(p("a")).st_ctime_ns
    t.expect("third_link_nlink_via_first", 3, lambda: (os.link(p("b"), p("c")), os.stat(p("a")).st_nlink)[1])
    t.expect("link_changes_ctime_seen_via_other", True, lambda: os.stat(p("a")).st_ctime_ns != ctime)
    t.expect("unlink_one_nlink_via_other", 2, lambda: (os.unlink(p("c")), os.stat(p("a")).st_nlink)[1])
    fd = os.open(p("a"), os.O_WRONLY | os.O_APPEND)
    try:
        t.expect("append_via_open_fd_read_via_other", b"tw++", lambda: (os.write(fd, b"++"), read_file(p("b")))[1])
    finally:
        os.close(fd)
    if t.root:
        t.expect(
            "chown_via_one_stat_via_other",
            [4321, 4321],
            lambda: (os.chown(p("a"), 4321, 4321), [os.stat(p("b")).st_uid, os.stat(p("b")).st_gid])[1],
        )
    t.expect(
        "unlink_first_name_keeps_data",
        [b"tw++", 1],
        lambda: (os.unlink(p("a")), [read_file(p("b")), os.stat(p("b")).st_nlink])[1],
    )
