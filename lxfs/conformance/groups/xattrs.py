# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Extended attributes in the user.* namespace: create/replace flags, listing, removal, limits."""

from __future__ import annotations

import errno
import os

from lxfs.conformance.model import Tester, errno_name, write_file
from lxfs.linux import XATTR_SIZE_MAX


def run(t: Tester) -> None:
    p = t.p
    f = p("f")
    write_file(f)
    t.expect("set_and_get", b"value", lambda: (os.setxattr(f, b"user.a", b"value"), os.getxattr(f, b"user.a"))[1])
    t.expect(
        "binary_value_round_trips",
        b"\0\xff\n",
        lambda: (os.setxattr(f, b"user.bin", b"\0\xff\n"), os.getxattr(f, b"user.bin"))[1],
    )
    t.expect("empty_value", b"", lambda: (os.setxattr(f, b"user.empty", b""), os.getxattr(f, b"user.empty"))[1])
    t.expect("get_missing_is_ENODATA", "ENODATA", lambda: os.getxattr(f, b"user.none"))
    t.expect("create_flag_on_existing_is_EEXIST", "EEXIST", lambda: os.setxattr(f, b"user.a", b"x", os.XATTR_CREATE))
    t.expect(
        "replace_flag_on_missing_is_ENODATA", "ENODATA", lambda: os.setxattr(f, b"user.none", b"x", os.XATTR_REPLACE)
    )
    t.expect(
        "replace_flag_on_existing",
        b"new",
        lambda: (os.setxattr(f, b"user.a", b"new", os.XATTR_REPLACE), os.getxattr(f, b"user.a"))[1],
    )
    t.expect("list_shows_names", ["user.a", "user.bin", "user.empty"], lambda: sorted(os.listxattr(f)))
    t.expect("remove", "ENODATA", lambda: (os.removexattr(f, b"user.bin"), os.getxattr(f, b"user.bin"))[1])
    t.expect("remove_missing_is_ENODATA", "ENODATA", lambda: os.removexattr(f, b"user.bin"))
    t.expect("unknown_namespace_is_EOPNOTSUPP", errno_name(errno.EOPNOTSUPP), lambda: os.setxattr(f, b"bogus.a", b"x"))
    t.expect("name_too_long_is_ERANGE", "ERANGE", lambda: os.setxattr(f, b"user." + b"n" * 251, b"x"))
    t.expect("value_too_large_is_E2BIG", "E2BIG", lambda: os.setxattr(f, b"user.big", b"x" * (XATTR_SIZE_MAX + 1)))
    t.expect(
        "large_value_round_trips",
        True,
        lambda: (os.setxattr(f, b"user.large", b"y" * 4000), os.getxattr(f, b"user.large") == b"y" * 4000)[1],
    )
    os.mkdir(p("d"))
    t.expect("on_directory", b"dv", lambda: (os.setxattr(p("d"), b"user.d", b"dv"), os.getxattr(p("d"), b"user.d"))[1])
    os.symlink(b"f", p("l"))
    t.expect(
        "user_xattr_on_symlink_is_EPERM", "EPERM", lambda: os.setxattr(p("l"), b"user.l", b"x", follow_symlinks=False)
    )
    t.expect("through_symlink_reaches_target", b"new", lambda: os.getxattr(p("l"), b"user.a"))
    t.expect("fd_variants", b"fd", lambda: _via_fd(f))
    t.expect("survives_rename", b"new", lambda: (os.rename(f, p("g")), os.getxattr(p("g"), b"user.a"))[1])
    t.expect("missing_file_is_ENOENT", "ENOENT", lambda: os.getxattr(p("none"), b"user.a"))


def _via_fd(path: bytes) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.setxattr(fd, b"user.fd", b"fd")
        return os.getxattr(fd, b"user.fd")
    finally:
        os.close(fd)
