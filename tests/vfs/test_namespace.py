"""lxfs-only tests of what a host directory cannot show: mounts, chroot, paths of locations, read-only
mounts, devices, absolute symlinks, and the path length limits."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from lxfs.linux import AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_RDONLY
from lxfs.tmpfs import TmpFs
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import OpenFile
from lxfs.vfs.interfaces import FileOps
from lxfs.vfs.namespace import Namespace


def _err(code: int, fn, *args, **kwargs) -> None:
    with pytest.raises(FsError) as info:
        fn(*args, **kwargs)
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value!r}"


def _mkfile(ns: Namespace, ctx, path: bytes, data: bytes = b"") -> None:
    f = ns.openat(ctx, None, path, os.O_CREAT | os.O_WRONLY, 0o644)
    f.write(data)
    f.close()


@pytest.fixture
def ns(lxfs_ns: Namespace) -> Namespace:
    return lxfs_ns


def test_mount_crossing_both_ways(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/mnt", 0o755)
    ns.mkdirat(ctx, None, b"/mnt/hidden", 0o755)
    before = ns.fstatat(ctx, None, b"/mnt")
    m = ns.mount(ctx, b"/mnt", TmpFs(mode=0o700), source=b"tmpfs")
    inside = ns.fstatat(ctx, None, b"/mnt")
    assert inside.st_dev == m.dev != before.st_dev
    assert stat.S_IMODE(inside.st_mode) == 0o700
    _err(errno.ENOENT, ns.fstatat, ctx, None, b"/mnt/hidden")
    ns.mkdirat(ctx, None, b"/mnt/sub", 0o755)
    assert ns.fstatat(ctx, None, b"/mnt/sub/../..").st_ino == ns.fstatat(ctx, None, b"/").st_ino
    assert ns.fstatat(ctx, None, b"/mnt/..").st_dev == before.st_dev
    ns.chdir(ctx, b"/mnt/sub")
    assert ns.getcwd(ctx) == b"/mnt/sub"
    assert ns.fstatat(ctx, None, b"../../mnt").st_dev == m.dev
    # getdents of a mount root: '..' is the filesystem's own root (as Linux's dcache_readdir)
    d = ns.openat(ctx, None, b"/mnt", os.O_RDONLY | os.O_DIRECTORY)
    entries = {e.name: e.ino for e in d.getdents(4096)}
    d.close()
    assert entries[b"."] == entries[b".."] == inside.st_ino
    # rename and link do not cross mounts; a mountpoint cannot be removed or renamed
    _mkfile(ns, ctx, b"/f")
    _err(errno.EXDEV, ns.renameat2, ctx, None, b"/f", None, b"/mnt/f")
    _err(errno.EXDEV, ns.linkat, ctx, None, b"/f", None, b"/mnt/f")
    ns.chdir(ctx, b"/")
    _err(errno.EBUSY, ns.unlinkat, ctx, None, b"/mnt", AT_REMOVEDIR)
    _err(errno.EBUSY, ns.renameat2, ctx, None, b"/mnt", None, b"/mnt2")
    info = {mi.target: mi for mi in ns.mounts()}
    assert info[b"/mnt"].fs_type == "tmpfs" and info[b"/mnt"].source == b"tmpfs"
    assert info[b"/mnt"].options == "rw,relatime"
    assert info[b"/"].mount_id == info[b"/mnt"].parent_id
    # busy while a file is open inside; then detached
    f = ns.openat(ctx, None, b"/mnt/sub", os.O_RDONLY)
    _err(errno.EBUSY, ns.umount, ctx, b"/mnt")
    f.close()
    _err(errno.EINVAL, ns.umount, ctx, b"/mnt/sub")
    ns.umount(ctx, b"/mnt")
    assert ns.fstatat(ctx, None, b"/mnt/hidden").st_dev == before.st_dev
    assert [mi.target for mi in ns.mounts()] == [b"/"]


def test_stacked_mounts_and_same_fs_same_dev(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/a", 0o755)
    ns.mkdirat(ctx, None, b"/b", 0o755)
    shared = TmpFs()
    m1 = ns.mount(ctx, b"/a", TmpFs())
    m2 = ns.mount(ctx, b"/a", shared)  # on top
    m3 = ns.mount(ctx, b"/b", shared)
    assert ns.fstatat(ctx, None, b"/a").st_dev == m2.dev == m3.dev != m1.dev
    assert ns.fstatat(ctx, None, b"/a/..").st_ino == ns.fstatat(ctx, None, b"/").st_ino
    ns.umount(ctx, b"/a")
    assert ns.fstatat(ctx, None, b"/a").st_dev == m1.dev
    ns.umount(ctx, b"/a")
    ns.umount(ctx, b"/b")


def test_mount_needs_root_and_directory(ns: Namespace) -> None:
    ctx = ns.context()
    _mkfile(ns, ctx, b"/file")
    _err(errno.ENOTDIR, ns.mount, ctx, b"/file", TmpFs())
    _err(errno.ENOENT, ns.mount, ctx, b"/missing", TmpFs())
    user = ns.context(Credentials.user(1000, 1000))
    _err(errno.EPERM, ns.mount, user, b"/", TmpFs())
    _err(errno.EPERM, ns.umount, user, b"/")
    _err(errno.EINVAL, ns.umount, ctx, b"/")


def test_readonly_mount(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/ro", 0o755)
    inner = TmpFs()
    inner_ns = Namespace(inner)
    ictx = inner_ns.context()
    inner_ns.mkdirat(ictx, None, b"/d", 0o777)
    f = inner_ns.openat(ictx, None, b"/f", os.O_CREAT | os.O_WRONLY, 0o666)
    f.write(b"data")
    f.close()
    inner_ns.mknodat(ictx, None, b"/fifo", stat.S_IFIFO | 0o666)
    ns.mount(ctx, b"/ro", inner, MS_RDONLY | MS_NOATIME)
    assert ns.mounts()[-1].options == "ro,noatime"
    assert ns.statfs(ctx, b"/ro").f_flags & os.ST_RDONLY
    _err(errno.EROFS, ns.mkdirat, ctx, None, b"/ro/x", 0o755)
    _err(errno.EEXIST, ns.mkdirat, ctx, None, b"/ro/d", 0o755)  # EEXIST wins over EROFS
    _err(errno.EROFS, ns.openat, ctx, None, b"/ro/f", os.O_WRONLY)
    _err(errno.EROFS, ns.openat, ctx, None, b"/ro/new", os.O_CREAT | os.O_WRONLY)
    _err(errno.EROFS, ns.unlinkat, ctx, None, b"/ro/f", 0)
    _err(errno.EROFS, ns.unlinkat, ctx, None, b"/ro/missing", 0)
    _err(errno.EROFS, ns.fchmodat, ctx, None, b"/ro/f", 0o600)
    _err(errno.EROFS, ns.truncate, ctx, b"/ro/f", 0)
    _err(errno.EROFS, ns.setxattr, ctx, b"/ro/f", b"user.a", b"1")
    _err(errno.EROFS, ns.faccessat, ctx, None, b"/ro/f", os.W_OK)
    ns.faccessat(ctx, None, b"/ro/f", os.R_OK)
    # a FIFO on a read-only mount can still be opened for writing
    r = ns.openat(ctx, None, b"/ro/fifo", os.O_RDONLY | os.O_NONBLOCK)
    w = ns.openat(ctx, None, b"/ro/fifo", os.O_WRONLY)
    assert w.write(b"x") == 1 and r.read(5) == b"x"
    r.close()
    w.close()
    f = ns.openat(ctx, None, b"/ro/f", os.O_RDONLY)
    atime = f.stat().st_atime_ns
    assert f.read(10) == b"data"
    assert f.stat().st_atime_ns == atime
    f.close()


def test_chroot_confines_dotdot_and_absolute_symlinks(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/jail", 0o755)
    ns.mkdirat(ctx, None, b"/jail/etc", 0o755)
    _mkfile(ns, ctx, b"/jail/etc/passwd", b"jail")
    _mkfile(ns, ctx, b"/secret", b"outside")
    ns.symlinkat(ctx, b"/etc/passwd", None, b"/jail/abs")
    ns.symlinkat(ctx, b"../../../../secret", None, b"/jail/rel")
    child = ctx.copy()
    ns.chroot(child, b"/jail")
    ns.chdir(child, b"/")
    assert ns.getcwd(child) == b"/"
    assert ns.fstatat(child, None, b"/..").st_ino == ns.fstatat(ctx, None, b"/jail").st_ino
    f = ns.openat(child, None, b"/abs", os.O_RDONLY)
    assert f.read(10) == b"jail"
    f.close()
    _err(errno.ENOENT, ns.fstatat, child, None, b"/rel")
    _err(errno.ENOENT, ns.fstatat, child, None, b"../../secret")
    assert ns.mounts(child.root) == []  # the root mount lies outside the jail
    ns.mount(ctx, b"/jail/etc", TmpFs())
    assert [mi.target for mi in ns.mounts(child.root)] == [b"/etc"]
    ns.umount(ctx, b"/jail/etc")
    # a cwd outside the root shows as unreachable
    outside = ctx.copy()
    ns.chroot(outside, b"/jail")
    assert ns.getcwd(outside).startswith(b"(unreachable)")
    user = ns.context(Credentials.user(1000, 1000))
    _err(errno.EPERM, ns.chroot, user, b"/jail")
    _err(errno.ENOTDIR, ns.chroot, ctx, b"/secret")
    child.release()
    outside.release()


def test_path_of_open_files(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/d", 0o755)
    ns.mkdirat(ctx, None, b"/d/e", 0o755)
    f = ns.openat(ctx, None, b"/d/e/../file", os.O_CREAT | os.O_RDWR, 0o644)
    assert f.path() == b"/d/file"
    ns.chdir(ctx, b"/d")
    g = ns.openat(ctx, None, b"file", os.O_RDONLY)
    assert g.path() == b"/d/file"
    d = ns.openat(ctx, None, b"e", os.O_RDONLY | os.O_DIRECTORY)
    assert d.path() == b"/d/e"
    ns.renameat2(ctx, None, b"/d/e", None, b"/d/moved")
    assert d.path() == b"/d/moved"
    ns.unlinkat(ctx, None, b"/d/file", 0)
    assert f.path() == b"/d/file (deleted)"
    r, w = ns.pipe(ctx)
    assert r.path() == w.path() and r.path().startswith(b"pipe:[")
    assert r.stat().st_ino == w.stat().st_ino and stat.S_ISFIFO(r.stat().st_mode)
    for file in (f, g, d, r, w):
        file.close()


def test_name_and_path_limits(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/" + b"n" * 255, 0o755)
    _err(errno.ENAMETOOLONG, ns.mkdirat, ctx, None, b"/" + b"n" * 256, 0o755)
    _err(errno.ENAMETOOLONG, ns.fstatat, ctx, None, b"/" * 4096)
    ns.fstatat(ctx, None, b"/" * 4095)
    _err(errno.ENOENT, ns.fstatat, ctx, None, b"")
    _err(errno.ENAMETOOLONG, ns.symlinkat, ctx, b"x" * 4096, None, b"/l")
    ns.symlinkat(ctx, b"x" * 4095, None, b"/l")
    assert len(ns.readlinkat(ctx, None, b"/l")) == 4095


class _Null(FileOps):
    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return b""

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        return len(data)


class _Registry:
    def __init__(self) -> None:
        self.opened: list[tuple[int, int, int]] = []

    def open_device(self, kind: int, major: int, minor: int, flags: int) -> FileOps:
        if (major, minor) != (1, 3):
            raise FsError(errno.ENXIO)
        self.opened.append((kind, major, minor))
        return _Null()


def test_device_nodes_open_through_the_registry() -> None:
    reg = _Registry()
    ns = Namespace(TmpFs(), reg)
    ctx = ns.context()
    ns.mknodat(ctx, None, b"/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    ns.mknodat(ctx, None, b"/nodev", stat.S_IFCHR | 0o666, os.makedev(99, 0))
    f = ns.openat(ctx, None, b"/null", os.O_RDWR)
    assert f.write(b"gone") == 4 and f.read(10) == b""
    assert reg.opened == [(stat.S_IFCHR, 1, 3)]
    assert stat.S_ISCHR(f.stat().st_mode) and f.stat().st_rdev == os.makedev(1, 3)
    f.close()
    _err(errno.ENXIO, ns.openat, ctx, None, b"/nodev", os.O_RDONLY)
    user = ns.context(Credentials.user(1000, 1000))
    _err(errno.EPERM, ns.mknodat, user, None, b"/x", stat.S_IFCHR | 0o666, 0)
    ns.mkdirat(ctx, None, b"/m", 0o755)
    ns.mount(ctx, b"/m", TmpFs(), MS_NODEV)
    ns.mknodat(ctx, None, b"/m/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _err(errno.EACCES, ns.openat, ctx, None, b"/m/null", os.O_RDONLY)
    no_registry = Namespace(TmpFs())
    c2 = no_registry.context()
    no_registry.mknodat(c2, None, b"/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _err(errno.ENXIO, no_registry.openat, c2, None, b"/null", os.O_RDONLY)


def test_symlink_nofollow_variants(ns: Namespace) -> None:
    ctx = ns.context()
    _mkfile(ns, ctx, b"/f")
    ns.symlinkat(ctx, b"/f", None, b"/l")
    assert stat.S_ISLNK(ns.fstatat(ctx, None, b"/l", AT_SYMLINK_NOFOLLOW).st_mode)
    _err(errno.EOPNOTSUPP, ns.fchmodat, ctx, None, b"/l", 0o600, AT_SYMLINK_NOFOLLOW)
    ns.fchownat(ctx, None, b"/l", 5, 5, AT_SYMLINK_NOFOLLOW)
    assert ns.fstatat(ctx, None, b"/l", AT_SYMLINK_NOFOLLOW).st_uid == 5
    assert ns.fstatat(ctx, None, b"/f").st_uid == 0
    p = ns.openat(ctx, None, b"/l", os.O_PATH | os.O_NOFOLLOW)
    assert ns.readlinkat(ctx, p, b"") == b"/f"
    _err(errno.EBADF, p.read, 1)
    p.close()


def test_open_exec_rules(ns: Namespace) -> None:
    ctx = ns.context()
    for name, mode in ((b"/exec_only", 0o711), (b"/noexec", 0o644), (b"/group_x", 0o010)):
        _mkfile(ns, ctx, name, b"\x7fELF")
        ns.fchmodat(ctx, None, name, mode)
    ns.symlinkat(ctx, b"exec_only", None, b"/link")
    ns.mkdirat(ctx, None, b"/dir", 0o755)
    user = ns.context(Credentials.user(1000, 1000))
    f = ns.open_exec(user, None, b"/exec_only")
    assert f.read(4) == b"\x7fELF" and f.path() == b"/exec_only"  # no read permission needed
    f.close()
    ns.open_exec(user, None, b"/link").close()
    _err(errno.ELOOP, ns.open_exec, user, None, b"/link", AT_SYMLINK_NOFOLLOW)
    _err(errno.EACCES, ns.open_exec, user, None, b"/noexec")
    _err(errno.EACCES, ns.open_exec, ctx, None, b"/noexec")  # root needs some x bit
    ns.open_exec(ctx, None, b"/group_x").close()
    _err(errno.EACCES, ns.open_exec, user, None, b"/group_x")
    _err(errno.EACCES, ns.open_exec, ctx, None, b"/dir")
    _err(errno.ENOENT, ns.open_exec, ctx, None, b"/missing")
    ns.mkdirat(ctx, None, b"/mnt", 0o755)
    ns.mount(ctx, b"/mnt", TmpFs(), MS_NOEXEC)
    _mkfile(ns, ctx, b"/mnt/prog")
    ns.fchmodat(ctx, None, b"/mnt/prog", 0o755)
    _err(errno.EACCES, ns.open_exec, ctx, None, b"/mnt/prog")


def test_umount_busy_while_a_task_is_inside(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/mnt", 0o755)
    ns.mount(ctx, b"/mnt", TmpFs())
    other = ctx.copy()
    ns.chdir(other, b"/mnt")
    _err(errno.EBUSY, ns.umount, ctx, b"/mnt")
    ns.chdir(other, b"/")
    ns.umount(ctx, b"/mnt")
    other.release()


def test_xattr_buffer_sizes_and_fd_calls(ns: Namespace) -> None:
    ctx = ns.context()
    _mkfile(ns, ctx, b"/f")
    ns.setxattr(ctx, b"/f", b"user.a", b"12345")
    ns.setxattr(ctx, b"/f", b"user.bb", b"")
    assert ns.getxattr(ctx, b"/f", b"user.a", size=0) == b"12345"  # size 0 asks for the length
    assert ns.getxattr(ctx, b"/f", b"user.a", size=5) == b"12345"
    _err(errno.ERANGE, ns.getxattr, ctx, b"/f", b"user.a", True, 4)
    assert sorted(ns.listxattr(ctx, b"/f", size=15)) == [b"user.a", b"user.bb"]  # "user.a\0user.bb\0"
    _err(errno.ERANGE, ns.listxattr, ctx, b"/f", True, 14)
    f = ns.openat(ctx, None, b"/f", os.O_RDONLY)
    f.fsetxattr(ctx.creds, b"user.c", b"v")
    assert f.fgetxattr(ctx.creds, b"user.c") == b"v"
    f.fremovexattr(ctx.creds, b"user.c")
    assert sorted(f.flistxattr(ctx.creds)) == [b"user.a", b"user.bb"]
    f.close()
    p = ns.openat(ctx, None, b"/f", os.O_PATH)
    _err(errno.EBADF, p.fgetxattr, ctx.creds, b"user.a")
    _err(errno.EBADF, p.fchmod, ctx.creds, 0o600)
    p.close()


def test_statfs(ns: Namespace) -> None:
    ctx = ns.context()
    st = ns.statfs(ctx, b"/")
    assert st.f_namelen == 255 and st.f_bsize > 0
    assert st.f_flags & 0x20 and st.f_flags & os.ST_RELATIME
    assert st.f_type == ns.root_mount.fs.magic
    _err(errno.ENOENT, ns.statfs, ctx, b"/missing")


def test_bind_mounts(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/src", 0o755)
    ns.mkdirat(ctx, None, b"/src/sub", 0o755)
    _mkfile(ns, ctx, b"/src/sub/f", b"shared")
    _mkfile(ns, ctx, b"/file", b"one file")
    _mkfile(ns, ctx, b"/file_target")
    ns.mkdirat(ctx, None, b"/dst", 0o755)
    ns.mkdirat(ctx, None, b"/dst/hidden", 0o755)
    m = ns.bind(ctx, b"/src/sub", b"/dst")
    st = ns.fstatat(ctx, None, b"/dst/f")
    assert st.st_ino == ns.fstatat(ctx, None, b"/src/sub/f").st_ino
    assert st.st_dev == ns.fstatat(ctx, None, b"/src/sub/f").st_dev == m.dev
    _err(errno.ENOENT, ns.fstatat, ctx, None, b"/dst/hidden")
    # '..' leaves the bind mount to the mountpoint's parent, not to /src
    assert ns.fstatat(ctx, None, b"/dst/..").st_ino == ns.fstatat(ctx, None, b"/").st_ino
    ns.chdir(ctx, b"/dst")
    assert ns.getcwd(ctx) == b"/dst"
    ns.chdir(ctx, b"/")
    # a different mount of the same filesystem: rename and link across it are EXDEV
    _err(errno.EXDEV, ns.renameat2, ctx, None, b"/dst/f", None, b"/src/sub/g")
    _err(errno.EXDEV, ns.linkat, ctx, None, b"/dst/f", None, b"/src/x")
    assert [mi.target for mi in ns.mounts()] == [b"/", b"/dst"]
    # a file onto a file; kinds must match
    ns.bind(ctx, b"/file", b"/file_target")
    f = ns.openat(ctx, None, b"/file_target", os.O_RDONLY)
    assert f.read(100) == b"one file"
    f.close()
    _err(errno.ENOTDIR, ns.bind, ctx, b"/file", b"/src")
    _err(errno.ENOTDIR, ns.bind, ctx, b"/src", b"/file")
    ns.umount(ctx, b"/file_target")
    ns.umount(ctx, b"/dst")
    assert ns.fstatat(ctx, None, b"/dst/hidden")


def test_remount_and_lazy_umount(ns: Namespace) -> None:
    from lxfs.linux import MNT_DETACH, MNT_FORCE

    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/m", 0o755)
    ns.mount(ctx, b"/m", TmpFs())
    ns.mkdirat(ctx, None, b"/m/inner", 0o755)
    ns.mount(ctx, b"/m/inner", TmpFs())
    ns.remount(ctx, b"/m", MS_RDONLY)
    _err(errno.EROFS, ns.mkdirat, ctx, None, b"/m/x", 0o755)
    ns.mkdirat(ctx, None, b"/m/inner/x", 0o755)  # the submount keeps its own flags
    _err(errno.EINVAL, ns.remount, ctx, b"/m/inner/x", 0)
    ns.remount(ctx, b"/m", 0)
    ns.mkdirat(ctx, None, b"/m/x", 0o755)
    f = ns.openat(ctx, None, b"/m/inner/x", os.O_RDONLY | os.O_DIRECTORY)
    _err(errno.EBUSY, ns.umount, ctx, b"/m")
    _err(errno.EINVAL, ns.umount, ctx, b"/m", MNT_DETACH | MNT_FORCE)
    ns.umount(ctx, b"/m", MNT_DETACH)
    assert [mi.target for mi in ns.mounts()] == [b"/"]
    _err(errno.ENOENT, ns.fstatat, ctx, None, b"/m/inner")
    assert f.getdents(4096)  # the open directory still works
    f.close()


def test_atime_mount_modes(ns: Namespace) -> None:
    from lxfs.linux import MS_NODIRATIME, MS_STRICTATIME

    ctx = ns.context()
    for name, flags in ((b"/strict", MS_STRICTATIME), (b"/nodir", MS_NODIRATIME), (b"/rel", 0)):
        ns.mkdirat(ctx, None, name, 0o755)
        ns.mount(ctx, name, TmpFs(), flags)
        _mkfile(ns, ctx, name + b"/f", b"x")
        f = ns.openat(ctx, None, name + b"/f", os.O_RDONLY)
        f.read(1)
        first = f.stat().st_atime_ns
        f.pread(1, 0)
        second = f.stat().st_atime_ns
        f.close()
        assert (second > first) == (flags == MS_STRICTATIME), name
        d = ns.openat(ctx, None, name, os.O_RDONLY | os.O_DIRECTORY)
        before = d.stat().st_atime_ns
        d.getdents(4096)
        assert (d.stat().st_atime_ns > before) == (flags != MS_NODIRATIME), name
        d.close()
