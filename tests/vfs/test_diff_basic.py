"""Differential tests (host kernel vs lxfs) of creating, opening, reading and writing files."""

from __future__ import annotations

import os
from collections.abc import Callable

from lxfs.linux import AT_SYMLINK_NOFOLLOW

Diff = Callable[[Callable[..., None]], None]

O_RDONLY, O_WRONLY, O_RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND
O_DIRECTORY, O_NOFOLLOW, O_PATH = os.O_DIRECTORY, os.O_NOFOLLOW, os.O_PATH


def test_create_write_read_stat(differential: Diff) -> None:
    def scenario(s):
        fd = s.open("f", O_CREAT | O_RDWR, 0o644)
        s.stat("f")
        s.stat(".")
        s.write(fd, b"hello world")
        s.fstat(fd)
        s.lseek(fd, 0, os.SEEK_SET)
        s.read(fd, 5)
        s.read(fd, 100)
        s.read(fd, 100)
        s.fstat(fd)
        s.pread(fd, 3, 6)
        s.pwrite(fd, b"W", 6)
        s.pread(fd, 100, 0)
        s.lseek(fd, 0, os.SEEK_CUR)
        s.lseek(fd, -3, os.SEEK_END)
        s.lseek(fd, -100, os.SEEK_CUR)
        s.lseek(fd, 0, 99)
        s.close(fd)
        s.read(fd, 1)
        s.stat("f")

    differential(scenario)


def test_open_flag_errors(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d", 0o755)
        s.close(s.open("f", O_CREAT | O_WRONLY, 0o644))
        s.symlink("f", "lf")
        s.symlink("d", "ld")
        s.symlink("missing", "dangling")
        for path in ("f", "d", "lf", "ld", "dangling", "missing", "f/", "d/", "lf/", "ld/", "", "f/x", "d/.", "d/.."):
            for flags in (
                O_RDONLY,
                O_WRONLY,
                O_RDWR,
                O_RDONLY | O_TRUNC,
                O_CREAT | O_WRONLY,
                O_CREAT | O_EXCL | O_WRONLY,
                O_CREAT | O_RDONLY,
                O_DIRECTORY,
                O_DIRECTORY | O_NOFOLLOW,
                O_NOFOLLOW,
                O_NOFOLLOW | O_CREAT | O_WRONLY,
                O_PATH,
                O_PATH | O_NOFOLLOW,
                O_PATH | O_DIRECTORY,
                O_CREAT | O_DIRECTORY,
                O_WRONLY | O_APPEND,
                os.O_ACCMODE,
            ):
                fd = s.open(path, flags, 0o600)
                s.read(fd, 1)
                s.close(fd)
        s.listdir(".")
        s.stat("missing")

    differential(scenario)


def test_o_trunc_and_append(differential: Diff) -> None:
    def scenario(s):
        fd = s.open("f", O_CREAT | O_WRONLY, 0o644)
        s.write(fd, b"0123456789")
        s.close(fd)
        s.stat("f")
        fd = s.open("f", O_WRONLY | O_APPEND)
        s.write(fd, b"ab")
        s.lseek(fd, 0, os.SEEK_CUR)
        s.pwrite(fd, b"P", 0)
        s.getfl(fd)
        s.close(fd)
        s.stat("f")
        fd = s.open("f", O_RDONLY)
        s.read(fd, 100)
        s.close(fd)
        s.stat("f")
        fd = s.open("f", O_RDWR | O_TRUNC)
        s.fstat(fd)
        s.read(fd, 10)
        s.close(fd)
        fd = s.open("f", O_RDWR | O_TRUNC)
        s.fstat(fd)
        s.close(fd)

    differential(scenario)


def test_truncate_extend_and_sparse_reads(differential: Diff) -> None:
    def scenario(s):
        fd = s.open("f", O_CREAT | O_RDWR, 0o644)
        s.write(fd, b"x" * 1000)
        s.ftruncate(fd, 10)
        s.fstat(fd)
        s.ftruncate(fd, 200_000)
        s.pread(fd, 30, 0)
        s.pread(fd, 10, 199_995)
        s.pwrite(fd, b"end", 1_000_000)
        s.fstat(fd)
        s.pread(fd, 8, 999_998)
        s.pread(fd, 4, 500_000)
        s.ftruncate(fd, -1)
        s.truncate("f", 5)
        s.stat("f")
        s.truncate("f", 5)
        s.stat("f")
        s.pread(fd, 100, 0)
        s.close(fd)
        fd = s.open("f", O_RDONLY)
        s.ftruncate(fd, 0)
        s.close(fd)
        s.mkdir("d")
        s.truncate("d", 0)
        s.truncate("missing", 0)
        s.truncate("f", -1)

    differential(scenario)


def test_write_on_directory_and_readonly_fd(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d")
        fd = s.open("d", O_RDONLY)
        s.read(fd, 10)
        s.write(fd, b"x")
        s.close(fd)
        fd = s.open("f", O_CREAT | O_RDONLY, 0o644)
        s.write(fd, b"x")
        s.close(fd)
        fd = s.open("f", O_WRONLY)
        s.read(fd, 1)
        s.close(fd)
        fd = s.open("f", O_PATH)
        s.read(fd, 1)
        s.write(fd, b"x")
        s.fstat(fd)
        s.getfl(fd)
        s.close(fd)

    differential(scenario)


def test_fcntl_getfl_setfl(differential: Diff) -> None:
    def scenario(s):
        fd = s.open("f", O_CREAT | O_RDWR | O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        s.getfl(fd)
        s.setfl(fd, O_RDONLY)
        s.getfl(fd)
        s.setfl(fd, O_APPEND | os.O_NOATIME)
        s.getfl(fd)
        s.close(fd)

    differential(scenario)


def test_mkdir_rmdir_unlink_errors(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d", 0o755)
        s.mkdir("d", 0o755)
        s.mkdir("d/", 0o755)
        s.mkdir("e/", 0o700)
        s.stat("e")
        s.mkdir(".", 0o755)
        s.mkdir("..", 0o755)
        s.mkdir("missing/x", 0o755)
        s.close(s.open("f", O_CREAT | O_WRONLY, 0o644))
        s.mkdir("f/x", 0o755)
        s.mkdir("f", 0o755)
        s.mkdir("d/sub", 0o755)
        s.rmdir("d")
        s.rmdir("f")
        s.rmdir("missing")
        s.rmdir(".")
        s.rmdir("d/..")
        s.rmdir("d/sub/.")
        s.unlink("d")
        s.unlink("f/")
        s.unlink("d/")
        s.unlink("missing/")
        s.unlink(".")
        s.unlink("..")
        s.unlink("")
        s.rmdir("")
        s.symlink("d", "ld")
        s.rmdir("ld")
        s.rmdir("ld/")
        s.unlink("ld/")
        s.unlink("ld")
        s.stat("d")
        s.rmdir("d/sub/")
        s.stat("d")
        s.rmdir("d")
        s.unlink("f")
        s.listdir(".")

    differential(scenario)


def test_symlinks_and_eloop(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d")
        s.close(s.open("d/f", O_CREAT | O_WRONLY, 0o644))
        s.symlink("d/f", "l1")
        s.symlink("l1", "l2")
        s.symlink("loop2", "loop1")
        s.symlink("loop1", "loop2")
        s.symlink("self", "self")
        s.symlink("d/f/", "lslash")
        s.symlink("../d", "d/up")
        for i in range(45):
            s.symlink(f"c{i + 1}" if i < 44 else "d/f", f"c{i}")
        s.stat("l2")
        s.lstat("l2")
        s.readlink("l2")
        s.readlink("d")
        s.readlink("missing")
        s.stat("loop1")
        s.lstat("loop1")
        s.stat("self")
        s.stat("lslash")
        s.stat("d/up/up/up/f")
        s.stat("c0")
        s.stat("c5")
        s.open("loop1", O_RDONLY)
        s.open("l2", O_RDONLY | O_NOFOLLOW)
        s.symlink("", "empty")
        s.symlink("x", "l1")
        s.symlink("x", "newdir/")
        s.symlink("x", "l1/")
        s.fstatat(None, "l1", AT_SYMLINK_NOFOLLOW)
        fd = s.open("dangle", O_CREAT | O_WRONLY, 0o644)
        s.close(fd)
        s.symlink("target-of-dangling", "dl")
        fd = s.open("dl", O_CREAT | O_WRONLY, 0o600)
        s.close(fd)
        s.stat("target-of-dangling")
        s.open("dl", O_CREAT | O_EXCL | O_WRONLY, 0o600)

    differential(scenario)


def test_long_names(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d")
        s.mkdir("d/" + "n" * 255)
        s.mkdir("d/" + "n" * 256)
        s.stat("d/" + "n" * 256)
        s.stat("missing/" + "n" * 256)
        s.open("x" * 256, O_CREAT | O_WRONLY)
        s.stat("/".join(["d"] * 2100))
        s.stat("./" * 2047 + "d")
        s.stat("./" * 2048 + "d")

    differential(scenario)


def test_hard_links(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("d")
        fd = s.open("f", O_CREAT | O_WRONLY, 0o644)
        s.write(fd, b"data")
        s.close(fd)
        s.stat("f")
        s.link("f", "g")
        s.stat("f")
        s.stat("g")
        s.stat(".")
        s.link("f", "g")
        s.link("d", "d2")
        s.link("missing", "x")
        s.link("f", "missing/x")
        s.link("f", "newname/")
        s.link("f", ".")
        s.symlink("f", "lf")
        s.link("lf", "h_nofollow")
        s.lstat("h_nofollow")
        s.link("lf", "h_follow", True)
        s.stat("h_follow")
        s.unlink("f")
        s.stat("g")
        s.listdir(".")

    differential(scenario)


def test_mknod_types(differential: Diff) -> None:
    import stat

    def scenario(s):
        s.mknod("fifo", stat.S_IFIFO | 0o644)
        s.mknod("reg", 0o644)
        s.mknod("sock", stat.S_IFSOCK | 0o644)
        s.mknod("chr", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        s.mknod("dir", stat.S_IFDIR | 0o755)
        s.mknod("bad", 0o170000 | 0o644)
        s.mknod("fifo", stat.S_IFIFO | 0o644)
        s.stat("fifo")
        s.stat("reg")
        s.stat("sock")
        s.stat("chr")
        s.open("sock", O_RDONLY)
        fd = s.open("fifo", O_RDWR)
        s.write(fd, b"through the fifo")
        s.read(fd, 7)
        s.lseek(fd, 0, os.SEEK_SET)
        s.pread(fd, 1, 0)
        s.close(fd)
        s.open("fifo", O_WRONLY | os.O_NONBLOCK)
        r = s.open("fifo", O_RDONLY | os.O_NONBLOCK)
        s.read(r, 10)
        w = s.open("fifo", O_WRONLY | os.O_NONBLOCK)
        s.write(w, b"xyz")
        s.read(r, 10)
        s.read(r, 10)
        s.close(w)
        s.read(r, 10)
        s.close(r)

    differential(scenario)


def test_umask_and_modes(differential: Diff) -> None:
    def scenario(s):
        s.umask(0o027)
        s.mkdir("d", 0o7777)
        s.stat("d")
        s.close(s.open("f", O_CREAT | O_WRONLY, 0o7777))
        s.stat("f")
        s.umask(0)
        s.mkdir("e", 0o1777)
        s.stat("e")
        s.chmod("f", 0o4755)
        s.stat("f")
        s.chmod("f", 0o177777)
        s.stat("f")
        s.symlink("f", "lf")
        s.chmod("lf", 0o600, True)
        s.chmod("lf", 0o600)
        s.stat("f")

    differential(scenario)


def test_pipe(differential: Diff) -> None:
    def scenario(s):
        r, w = s.pipe()
        s.write(w, b"abc")
        s.read(r, 2)
        s.read(r, 10)
        s.lseek(r, 0, os.SEEK_CUR)
        s.pread(r, 1, 0)
        s.read(w, 1)
        s.write(r, b"x")
        s.getfl(r)
        s.getfl(w)
        s.close(w)
        s.read(r, 10)
        s.fstat(r)
        s.close(r)

    differential(scenario)
