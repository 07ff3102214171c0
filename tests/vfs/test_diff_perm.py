"""Differential tests of permission rules as a non-root user (the host side drops privileges in its
forked child): access bits, search permission, sticky and setgid directories, suid/sgid clearing,
chmod/chown/utimensat ownership rules, and root's overrides."""

from __future__ import annotations

import os
from collections.abc import Callable

from lxfs.linux import AT_EACCESS, UTIME_NOW, UTIME_OMIT

Diff = Callable[[Callable[..., None]], None]
USER, GROUP, OTHER_GROUP, OTHER_USER = 1000, 1000, 1001, 1002
W, R, X = os.W_OK, os.R_OK, os.X_OK


def _file(s, path: str, mode: int, uid: int = 0, gid: int = 0, data: bytes = b"") -> None:
    fd = s.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    if data:
        s.write(fd, data)
    s.close(fd)
    s.chown(path, uid, gid)
    s.chmod(path, mode)


def test_access_bits_as_user(differential: Diff) -> None:
    modes = [0o000, 0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001, 0o644, 0o604, 0o060, 0o707]
    owners = [(USER, GROUP), (0, GROUP), (0, OTHER_GROUP), (0, 0)]

    def scenario(s):
        s.chmod(".", 0o755)
        names = []
        for m in modes:
            for uid, gid in owners:
                name = f"f{m:o}_{uid}_{gid}"
                _file(s, name, m, uid, gid)
                names.append(name)
        s.become(USER, GROUP, (OTHER_GROUP,))
        for name in names:
            for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
                s.close(s.open(name, flags))
            for mode in (R, W, X, R | W, os.F_OK):
                s.access(name, mode)

    differential(scenario)


def test_root_overrides(differential: Diff) -> None:
    def scenario(s):
        _file(s, "noexec", 0o644)
        _file(s, "someexec", 0o010, USER, GROUP)
        _file(s, "none", 0o000, USER, GROUP)
        s.mkdir("d", 0o000)
        _file(s, "d/inner", 0o000)
        for name in ("noexec", "someexec", "none", "d", "d/inner"):
            for mode in (R, W, X):
                s.access(name, mode)
                s.access(name, mode, AT_EACCESS)
        s.close(s.open("none", os.O_RDWR))
        s.listdir("d")

    differential(scenario)


def test_search_permission_on_every_directory(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("a", 0o755)
        s.mkdir("a/b", 0o755)
        _file(s, "a/b/f", 0o644, data=b"x")
        s.mkdir("nox", 0o766)
        _file(s, "nox/f", 0o666)
        s.mkdir("noread", 0o711)
        _file(s, "noread/f", 0o644)
        s.mkdir("wonly", 0o733)
        s.chmod("a/b", 0o644)  # no search
        s.symlink("a/b/f", "link")
        s.become(USER, GROUP)
        s.stat("a/b/f")
        s.stat("a/b")
        s.stat("link")
        s.lstat("link")
        s.open("a/b/f", os.O_RDONLY)
        s.stat("nox/f")
        s.stat("nox/missing")
        s.mkdir("nox/new")
        s.listdir("nox")
        s.listdir("noread")
        s.stat("noread/f")
        s.close(s.open("noread/f", os.O_RDONLY))
        s.mkdir("noread/new")
        s.mkdir("wonly/new")
        s.open("wonly/newf", os.O_CREAT | os.O_WRONLY, 0o644)
        s.chdir("nox")
        s.chdir("noread")
        s.getcwd()
        s.chdir("..")
        s.getcwd()

    differential(scenario)


def test_create_and_delete_need_write_and_search(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("ro", 0o555)
        _file(s, "ro/f", 0o666)
        s.mkdir("ro/sub", 0o777)
        s.mkdir("rw", 0o777)
        _file(s, "rw/rootfile", 0o600)
        s.mkdir("rw/rootdir", 0o700)
        _file(s, "rw/rootdir/x", 0o600)
        s.become(USER, GROUP)
        s.open("ro/new", os.O_CREAT | os.O_WRONLY, 0o644)
        s.open("ro/f", os.O_CREAT | os.O_WRONLY, 0o644)  # exists: no write permission on ro needed
        s.open("ro/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        s.mkdir("ro/f")
        s.mkdir("ro/new")
        s.unlink("ro/f")
        s.rmdir("ro/sub")
        s.rename("ro/f", "rw/f")
        s.symlink("x", "ro/l")
        s.link("ro/f", "rw/f2")  # protected_hardlinks: not the owner, but may read and write
        s.link("rw/rootfile", "rw/l2")  # may not read
        s.unlink("rw/rootfile")  # allowed: write on rw, not sticky
        s.rename("rw/rootdir", "rw/moved")  # moving a dir needs write on it ('..')
        s.rmdir("rw/rootdir")
        s.listdir("rw")

    differential(scenario)


def test_sticky_directory(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("tmp", 0o777)
        s.chmod("tmp", 0o1777)
        _file(s, "tmp/root_file", 0o666)
        _file(s, "tmp/user_file", 0o644, USER, GROUP)
        _file(s, "tmp/other_file", 0o666, OTHER_USER, OTHER_USER)
        s.mkdir("tmp/other_dir", 0o777)
        s.chown("tmp/other_dir", OTHER_USER, OTHER_USER)
        s.mkdir("mine", 0o1777)
        s.chown("mine", USER, GROUP)
        _file(s, "mine/other", 0o644, OTHER_USER, OTHER_USER)
        s.become(USER, GROUP)
        s.unlink("tmp/root_file")
        s.unlink("tmp/other_file")
        s.rmdir("tmp/other_dir")
        s.rename("tmp/other_file", "tmp/x")
        s.rename("tmp/user_file", "tmp/other_file")  # replacing another's file is a delete too
        s.rename("tmp/user_file", "tmp/user_renamed")
        s.unlink("tmp/user_renamed")
        s.unlink("mine/other")  # the directory's owner may
        s.close(s.open("tmp/other_file", os.O_WRONLY))
        s.setxattr("tmp", "user.x", b"1")
        s.listdir("tmp")

    differential(scenario)


def test_setgid_directory_inheritance(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("sg", 0o777)
        s.chown("sg", 0, OTHER_GROUP)
        s.chmod("sg", 0o2777)
        s.stat("sg")
        s.mkdir("sg/rootsub", 0o755)
        s.stat("sg/rootsub")
        s.become(USER, GROUP)
        s.close(s.open("sg/f", os.O_CREAT | os.O_WRONLY, 0o2755))
        s.stat("sg/f")
        s.mkdir("sg/d", 0o755)
        s.stat("sg/d")
        s.mkdir("sg/d/deeper", 0o700)
        s.stat("sg/d/deeper")
        s.mknod("sg/fifo", 0o10644)
        s.stat("sg/fifo")
        s.symlink("x", "sg/l")
        s.lstat("sg/l")

    differential(scenario)


def test_setgid_file_created_by_member(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("sg", 0o777)
        s.chown("sg", 0, OTHER_GROUP)
        s.chmod("sg", 0o2777)
        s.become(USER, GROUP, (OTHER_GROUP,))
        s.close(s.open("sg/f", os.O_CREAT | os.O_WRONLY, 0o2755))
        s.stat("sg/f")

    differential(scenario)


def test_suid_sgid_cleared_on_write_and_truncate(differential: Diff) -> None:
    def scenario(s):
        s.chmod(".", 0o777)
        for name, mode in (("a", 0o6755), ("b", 0o6745), ("c", 0o4777), ("d", 0o2777), ("e", 0o2767)):
            _file(s, name, mode, USER, GROUP, b"data")
        s.write(s.open("a", os.O_WRONLY), b"x")
        s.stat("a")
        s.become(USER, GROUP)
        for name in "abcde":
            fd = s.open(name, os.O_WRONLY)
            s.write(fd, b"")
            s.fstat(fd)
            s.write(fd, b"x")
            s.fstat(fd)
            s.close(fd)
        _file(s, "t", 0o6777, USER, GROUP, b"data")
        s.truncate("t", 1)
        s.stat("t")
        _file(s, "u", 0o6777, USER, GROUP, b"data")
        s.close(s.open("u", os.O_WRONLY | os.O_TRUNC))
        s.stat("u")

    differential(scenario)


def test_chmod_rules(differential: Diff) -> None:
    def scenario(s):
        _file(s, "mine", 0o644, USER, GROUP)
        _file(s, "theirs", 0o666, OTHER_USER, GROUP)
        _file(s, "ingroup", 0o644, USER, OTHER_GROUP)
        _file(s, "outgroup", 0o644, USER, 4242)
        s.mkdir("dir_out", 0o755)
        s.chown("dir_out", USER, 4242)
        s.become(USER, GROUP, (OTHER_GROUP,))
        s.chmod("mine", 0o4755)
        s.stat("mine")
        s.chmod("mine", 0o2755)
        s.stat("mine")
        s.chmod("theirs", 0o600)
        s.chmod("ingroup", 0o2750)
        s.stat("ingroup")
        s.chmod("outgroup", 0o2750)
        s.stat("outgroup")
        s.chmod("outgroup", 0o1750)
        s.stat("outgroup")
        s.chmod("dir_out", 0o3755)
        s.stat("dir_out")
        s.fchmod(s.open("theirs", os.O_RDWR), 0o777)

    differential(scenario)


def test_chown_rules(differential: Diff) -> None:
    def scenario(s):
        _file(s, "mine", 0o6755, USER, GROUP)
        _file(s, "theirs", 0o666, OTHER_USER, GROUP)
        _file(s, "setgid_nox", 0o2644, USER, GROUP)
        s.chown("mine", 0, 0)
        s.stat("mine")
        _file(s, "mine", 0o6755, USER, GROUP)
        s.become(USER, GROUP, (OTHER_GROUP,))
        s.stat("mine")
        s.chown("mine", -1, -1)
        s.stat("mine")
        s.chown("mine", USER, -1)
        s.stat("mine")
        s.chown("mine", OTHER_USER, -1)
        s.chown("mine", -1, OTHER_GROUP)
        s.stat("mine")
        s.chown("mine", -1, 4242)
        s.chown("theirs", -1, -1)
        s.stat("theirs")
        s.chown("theirs", -1, GROUP)
        s.chown("setgid_nox", -1, OTHER_GROUP)
        s.stat("setgid_nox")

    differential(scenario)


def test_utimensat_permission_rules(differential: Diff) -> None:
    def scenario(s):
        _file(s, "mine", 0o444, USER, GROUP)
        _file(s, "writable", 0o666, OTHER_USER, GROUP)
        _file(s, "readonly", 0o644, OTHER_USER, GROUP)
        s.become(USER, GROUP)
        for name in ("mine", "writable", "readonly", "missing"):
            s.utimens(name, None)
            s.utimens(name, ((0, UTIME_NOW), (0, UTIME_NOW)))
            s.utimens(name, ((5, 0), (0, UTIME_OMIT)))
            s.utimens(name, ((0, UTIME_OMIT), (0, UTIME_OMIT)))
            s.utimens(name, ((0, UTIME_NOW), (0, UTIME_OMIT)))
            s.stat(name)
        s.utimens("mine", ((1, 10**9), (0, 0)))
        s.utimens("mine", ((123, 456), (789, 12)))
        s.stat("mine")

    differential(scenario)


def test_xattr_namespaces_as_user(differential: Diff) -> None:
    def scenario(s):
        _file(s, "mine", 0o644, USER, GROUP)
        _file(s, "readonly", 0o644, OTHER_USER, GROUP)
        s.setxattr("readonly", "user.a", b"1")
        s.setxattr("readonly", "trusted.t", b"2")
        s.mknod("fifo", 0o10666)
        s.become(USER, GROUP)
        s.setxattr("mine", "user.a", b"v")
        s.getxattr("mine", "user.a")
        s.setxattr("mine", "trusted.a", b"v")
        s.getxattr("readonly", "trusted.t")
        s.listxattr("readonly")
        s.getxattr("readonly", "user.a")
        s.setxattr("readonly", "user.b", b"v")
        s.removexattr("readonly", "user.a")
        s.setxattr("fifo", "user.a", b"v")
        s.getxattr("fifo", "user.a")
        s.setxattr("mine", "security.x", b"v")
        s.setxattr("mine", "bogus.x", b"v")
        s.getxattr("mine", "bogus.x")
        s.listxattr("mine")

    differential(scenario)


def test_access_uses_real_ids_unless_eaccess(differential: Diff) -> None:
    def scenario(s):
        _file(s, "rootonly", 0o600)
        _file(s, "useronly", 0o600, USER, GROUP)
        _file(s, "groupx", 0o070, 0, OTHER_GROUP)
        s.mkdir("private", 0o700)
        s.become_ids(USER, 0, GROUP, OTHER_GROUP)  # a set-uid-root program run by USER
        for name in ("rootonly", "useronly", "groupx", "private"):
            for mode in (R, W, X):
                s.access(name, mode)
                s.access(name, mode, AT_EACCESS)
        s.close(s.open("rootonly", os.O_RDONLY))  # open uses the effective (fs) ids
        s.become_ids(0, USER, 0, GROUP)  # the reverse: real root, effective USER
        for name in ("rootonly", "useronly", "groupx"):
            s.access(name, R)
            s.access(name, R, AT_EACCESS)
        s.open("rootonly", os.O_RDONLY)
        s.mkdir("private/x")

    differential(scenario)
