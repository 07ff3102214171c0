# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Creating and removing names: mkdir, rmdir, unlink, link, mknod and their errors (link counts too)."""

from __future__ import annotations

import os
import stat

from lxfs.conformance.model import Tester, perm, write_file


def run(t: Tester) -> None:
    p = t.p
    write_file(p("file"), b"data")
    t.expect("mkdir_mode_honours_umask_022", 0o755, lambda: (os.mkdir(p("d"), 0o777), perm(p("d")))[1])
    t.expect("new_dir_has_nlink_2", 2, lambda: os.stat(p("d")).st_nlink)
    base = os.stat(t.dir).st_nlink
    t.expect("subdir_raises_parent_nlink", base + 1, lambda: (os.mkdir(p("d2")), os.stat(t.dir).st_nlink)[1])
    t.expect("mkdir_existing_is_EEXIST", "EEXIST", lambda: os.mkdir(p("d")))
    t.expect("mkdir_over_file_is_EEXIST", "EEXIST", lambda: os.mkdir(p("file")))
    t.expect("mkdir_missing_parent_is_ENOENT", "ENOENT", lambda: os.mkdir(p("no", "d")))
    t.expect("mkdir_under_file_is_ENOTDIR", "ENOTDIR", lambda: os.mkdir(p("file", "d")))
    t.expect("mkdir_with_trailing_slash_is_ok", "ok", lambda: os.mkdir(p("d3/")))
    os.symlink(b"d", p("dlink"))
    os.symlink(b"nowhere", p("dangling"))
    t.expect("mkdir_over_dangling_symlink_is_EEXIST", "EEXIST", lambda: os.mkdir(p("dangling")))

    write_file(p("d", "inner"))
    t.expect("rmdir_nonempty_is_ENOTEMPTY", "ENOTEMPTY", lambda: os.rmdir(p("d")))
    t.expect("rmdir_file_is_ENOTDIR", "ENOTDIR", lambda: os.rmdir(p("file")))
    t.expect("rmdir_symlink_to_dir_is_ENOTDIR", "ENOTDIR", lambda: os.rmdir(p("dlink")))
    t.expect("rmdir_dot_is_EINVAL", "EINVAL", lambda: os.rmdir(p("d2", ".")))
    t.expect("rmdir_dotdot_is_ENOTEMPTY", "ENOTEMPTY", lambda: os.rmdir(p("d2", "..")))
    t.expect("rmdir_missing_is_ENOENT", "ENOENT", lambda: os.rmdir(p("none")))
    base = os.stat(t.dir).st_nlink
    t.expect("rmdir_lowers_parent_nlink", base - 1, lambda: (os.rmdir(p("d2")), os.stat(t.dir).st_nlink)[1])
    t.expect("rmdir_removed_name_is_gone", "ENOENT", lambda: os.stat(p("d2")))

    t.expect("unlink_dir_is_EISDIR", "EISDIR", lambda: os.unlink(p("d")))
    t.expect("unlink_missing_is_ENOENT", "ENOENT", lambda: os.unlink(p("none")))
    t.expect("unlink_file_with_trailing_slash_is_ENOTDIR", "ENOTDIR", lambda: os.unlink(p("file/")))
    t.expect(
        "unlink_symlink_removes_link_only",
        True,
        lambda: (os.unlink(p("dlink")), os.path.isdir(p("d")) and not os.path.lexists(p("dlink")))[1],
    )

    t.expect("link_raises_nlink", 2, lambda: (os.link(p("file"), p("file2")), os.stat(p("file")).st_nlink)[1])
    t.expect("link_shares_inode", True, lambda: os.stat(p("file")).st_ino == os.stat(p("file2")).st_ino)
    t.expect("link_to_existing_name_is_EEXIST", "EEXIST", lambda: os.link(p("file"), p("file2")))
    t.expect("link_of_directory_is_EPERM", "EPERM", lambda: os.link(p("d"), p("dhard")))
    t.expect("link_of_missing_is_ENOENT", "ENOENT", lambda: os.link(p("none"), p("x")))
    t.expect("link_into_missing_dir_is_ENOENT", "ENOENT", lambda: os.link(p("file"), p("none", "x")))
    t.expect(
        "link_of_symlink_links_the_symlink",
        True,
        lambda: (
            os.link(p("dangling"), p("dangling2"), follow_symlinks=False),
            os.path.islink(p("dangling2")) and os.lstat(p("dangling")).st_nlink == 2,
        )[1],
    )
    t.expect("unlink_lowers_nlink", 1, lambda: (os.unlink(p("file2")), os.stat(p("file")).st_nlink)[1])

    t.expect(
        "mkfifo_makes_fifo", True, lambda: (os.mkfifo(p("fifo"), 0o600), stat.S_ISFIFO(os.lstat(p("fifo")).st_mode))[1]
    )
    t.expect(
        "mknod_regular_file",
        True,
        lambda: (os.mknod(p("reg"), stat.S_IFREG | 0o600), stat.S_ISREG(os.lstat(p("reg")).st_mode))[1],
    )
    t.expect("mknod_existing_is_EEXIST", "EEXIST", lambda: os.mknod(p("reg"), stat.S_IFREG | 0o600))
    if t.root:
        t.expect(
            "mknod_char_device_keeps_rdev",
            [1, 3],
            lambda: (
                os.mknod(p("null"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
                [os.major(os.lstat(p("null")).st_rdev), os.minor(os.lstat(p("null")).st_rdev)],
            )[1],
        )
        t.expect(
            "mknod_block_device_is_blk",
            True,
            lambda: (
                os.mknod(p("blk"), stat.S_IFBLK | 0o600, os.makedev(7, 0)),
                stat.S_ISBLK(os.lstat(p("blk")).st_mode),
            )[1],
        )
    else:
        t.expect(
            "mknod_char_device_as_user_is_EPERM",
            "EPERM",
            lambda: os.mknod(p("null"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
        )
    t.expect("mknod_bad_type_is_EINVAL", "EINVAL", lambda: os.mknod(p("bad"), 0o170000 | 0o600))
