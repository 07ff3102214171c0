# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""rename(2) and renameat2(2): replacement, every error case, RENAME_NOREPLACE and RENAME_EXCHANGE."""

from __future__ import annotations

import ctypes
import os

from lxfs.conformance.model import Tester, read_file, write_file
from lxfs.linux import AT_FDCWD

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = _libc.renameat2
_renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_renameat2.restype = ctypes.c_int


def renameat2(old: bytes, new: bytes, flags: int) -> None:
    if _renameat2(AT_FDCWD, old, AT_FDCWD, new, flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def run(t: Tester) -> None:
    p = t.p
    write_file(p("a"), b"A")
    write_file(p("b"), b"B")
    ino_a = os.stat(p("a")).st_ino
    t.expect(
        "rename_replaces_target",
        [b"A", True],
        lambda: (os.rename(p("a"), p("b")), [read_file(p("b")), not os.path.lexists(p("a"))])[1],
    )
    t.expect("rename_keeps_inode_number", True, lambda: os.stat(p("b")).st_ino == ino_a)
    t.expect("rename_missing_is_ENOENT", "ENOENT", lambda: os.rename(p("a"), p("c")))
    t.expect("rename_into_missing_dir_is_ENOENT", "ENOENT", lambda: os.rename(p("b"), p("none", "c")))
    t.expect("rename_to_itself_is_ok", b"A", lambda: (os.rename(p("b"), p("b")), read_file(p("b")))[1])
    os.link(p("b"), p("b2"))
    t.expect(
        "rename_between_hard_links_is_a_no_op",
        [True, True],
        lambda: (os.rename(p("b"), p("b2")), [os.path.exists(p("b")), os.path.exists(p("b2"))])[1],
    )

    for d in ("d1", "d1/sub", "d2", "full", "empty"):
        os.mkdir(p(d))
    write_file(p("full", "f"))
    t.expect("dir_into_own_subtree_is_EINVAL", "EINVAL", lambda: os.rename(p("d1"), p("d1", "sub", "x")))
    t.expect("dir_onto_own_child_is_EINVAL", "EINVAL", lambda: os.rename(p("d1"), p("d1", "sub")))
    t.expect("dir_over_nonempty_dir_is_ENOTEMPTY", "ENOTEMPTY", lambda: os.rename(p("d2"), p("full")))
    t.expect("file_over_dir_is_EISDIR", "EISDIR", lambda: os.rename(p("b"), p("d2")))
    t.expect("dir_over_file_is_ENOTDIR", "ENOTDIR", lambda: os.rename(p("d2"), p("b")))
    t.expect("file_with_trailing_slash_is_ENOTDIR", "ENOTDIR", lambda: os.rename(p("b/"), p("c")))
    t.expect("dot_source_is_EBUSY", "EBUSY", lambda: os.rename(p("d2", "."), p("x")))
    t.expect("dotdot_target_is_EBUSY", "EBUSY", lambda: os.rename(p("b"), p("d2", "..")))
    parent = os.stat(t.dir).st_nlink
    t.expect(
        "dir_over_empty_dir_replaces_it",
        [True, False],
        lambda: (os.rename(p("d2"), p("empty")), [os.path.isdir(p("empty")), os.path.exists(p("d2"))])[1],
    )
    t.expect("dir_replace_lowers_parent_nlink", parent - 1, lambda: os.stat(t.dir).st_nlink)
    t.expect("dir_with_trailing_slash_is_ok", "ok", lambda: os.rename(p("empty/"), p("moved/")))
    d1_nlink = os.stat(p("d1")).st_nlink
    full_nlink = os.stat(p("full")).st_nlink
    t.expect(
        "dir_move_updates_dotdot",
        True,
        lambda: (os.rename(p("moved"), p("d1", "m")), os.stat(p("d1", "m", "..")).st_ino == os.stat(p("d1")).st_ino)[1],
    )
    t.expect("dir_move_raises_new_parent_nlink", d1_nlink + 1, lambda: os.stat(p("d1")).st_nlink)
    t.expect(
        "dir_move_out_lowers_old_parent_nlink",
        [d1_nlink, full_nlink + 1],
        lambda: (os.rename(p("d1", "m"), p("full", "m")), [os.stat(p("d1")).st_nlink, os.stat(p("full")).st_nlink])[1],
    )
    os.symlink(b"d1", p("link"))
    t.expect(
        "rename_symlink_moves_the_link",
        [True, True],
        lambda: (os.rename(p("link"), p("link2")), [os.path.islink(p("link2")), os.path.isdir(p("d1"))])[1],
    )

    write_file(p("x"), b"X")
    write_file(p("y"), b"Y")
    t.expect("noreplace_existing_is_EEXIST", "EEXIST", lambda: renameat2(p("x"), p("y"), RENAME_NOREPLACE))
    t.expect(
        "noreplace_new_name_is_ok", b"X", lambda: (renameat2(p("x"), p("x2"), RENAME_NOREPLACE), read_file(p("x2")))[1]
    )
    t.expect(
        "exchange_swaps_files",
        [b"Y", b"X"],
        lambda: (renameat2(p("x2"), p("y"), RENAME_EXCHANGE), [read_file(p("x2")), read_file(p("y"))])[1],
    )
    t.expect("exchange_with_missing_is_ENOENT", "ENOENT", lambda: renameat2(p("y"), p("none"), RENAME_EXCHANGE))
    t.expect(
        "exchange_file_and_dir",
        [True, True],
        lambda: (renameat2(p("y"), p("d1"), RENAME_EXCHANGE), [os.path.isdir(p("y")), os.path.isfile(p("d1"))])[1],
    )
    t.expect(
        "exchange_dir_updates_dotdot",
        True,
        lambda: (
            renameat2(p("y"), p("full", "m"), RENAME_EXCHANGE),
            os.stat(p("full", "m", "..")).st_ino == os.stat(p("full")).st_ino,
        )[1],
    )
    t.expect(
        "exchange_and_noreplace_is_EINVAL",
        "EINVAL",
        lambda: renameat2(p("x2"), p("d1"), RENAME_EXCHANGE | RENAME_NOREPLACE),
    )
    t.expect("unknown_flag_is_EINVAL", "EINVAL", lambda: renameat2(p("x2"), p("x3"), 1 << 20))
