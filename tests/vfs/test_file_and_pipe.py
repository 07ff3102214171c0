"""Open file descriptions, fd tables, pipes and FIFOs: reference counting, dup/dup2/dup3, close-on-exec,
EMFILE, pipe capacity and PIPE_BUF atomicity, EPIPE/EOF, EAGAIN + wait-queue notification, FIFO opens."""

from __future__ import annotations

import errno
import os
import select
import stat

import pytest

from lxfs.tmpfs import TmpFs
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import FdTable
from lxfs.vfs.namespace import Namespace
from lxfs.vfs.pipe import PIPE_BUF, PIPE_SIZE, FifoWait


def _err(code: int, fn, *args) -> None:
    with pytest.raises(FsError) as info:
        fn(*args)
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value!r}"


@pytest.fixture
def ns() -> Namespace:
    return Namespace(TmpFs())


def test_fdtable_lowest_free_dup_and_cloexec(ns: Namespace) -> None:
    ctx = ns.context()
    t = FdTable(rlimit=8)
    a = t.install(ns.openat(ctx, None, b"/f", os.O_CREAT | os.O_RDWR, 0o644))
    b = t.install(ns.openat(ctx, None, b"/f", os.O_RDONLY), cloexec=True)
    assert (a, b) == (0, 1)
    assert t.get_cloexec(b) and not t.get_cloexec(a)
    c = t.dup(a)
    assert c == 2 and t.get(c) is t.get(a) and t.get(a).refs == 2
    t.get(a).write(b"shared offset")
    assert t.get(c).pos == len(b"shared offset")
    t.close(a)
    assert t.install(ns.openat(ctx, None, b"/f", os.O_RDONLY)) == 0
    assert t.dup(0, minfd=5, cloexec=True) == 5 and t.get_cloexec(5)
    assert t.dup2(1, 1) == 1
    _err(errno.EBADF, t.dup2, 7, 3)
    assert t.dup2(1, 3) == 3 and not t.get_cloexec(3)
    _err(errno.EINVAL, t.dup3, 1, 1, os.O_CLOEXEC)
    _err(errno.EINVAL, t.dup3, 1, 4, 0o1)
    assert t.dup3(1, 4, os.O_CLOEXEC) == 4 and t.get_cloexec(4)
    _err(errno.EBADF, t.dup2, 1, 8)
    _err(errno.EINVAL, t.dup, 1, 8)
    t.dup(1)
    t.dup(1)
    _err(errno.EMFILE, t.dup, 1)
    _err(errno.EBADF, t.get, -1)
    _err(errno.EBADF, t.close, 99)
    child = t.copy()
    assert child.get(1) is t.get(1)
    child.close_on_exec()
    assert sorted(fd for fd, _ in child.items()) == [0, 2, 3, 6, 7]
    child.close_all()
    t.close_all()
    assert len(t) == 0


def test_last_close_releases_an_unlinked_inode(ns: Namespace) -> None:
    ctx = ns.context()
    fs = ns.root_mount.fs
    f = ns.openat(ctx, None, b"/f", os.O_CREAT | os.O_RDWR, 0o644)
    ino = f.stat().st_ino
    g = f.get()
    ns.unlinkat(ctx, None, b"/f", 0)
    f.close()
    assert fs.getattr(ino).nlink == 0  # still there: one reference left
    g.close()
    _err(errno.ENOENT, fs.getattr, ino)


def test_seek_data_hole_and_limits(ns: Namespace) -> None:
    ctx = ns.context()
    f = ns.openat(ctx, None, b"/f", os.O_CREAT | os.O_RDWR, 0o644)
    f.write(b"abc")
    assert f.lseek(0, os.SEEK_DATA) == 0
    assert f.lseek(1, os.SEEK_HOLE) == 3
    _err(errno.ENXIO, f.lseek, 3, os.SEEK_DATA)
    _err(errno.EINVAL, f.lseek, -1, os.SEEK_SET)
    d = ns.openat(ctx, None, b"/", os.O_RDONLY | os.O_DIRECTORY)
    _err(errno.EINVAL, d.lseek, 0, os.SEEK_END)
    _err(errno.EINVAL, d.getdents, 10)  # not even one record fits
    f.close()
    d.close()


def test_pipe_capacity_atomicity_and_blocking(ns: Namespace) -> None:
    ctx = ns.context()
    r, w = ns.pipe(ctx, os.O_NONBLOCK)
    assert w.getfl() & os.O_NONBLOCK and w.getfl() & os.O_ACCMODE == os.O_WRONLY
    woke: list[int] = []
    r.ops.waitq.add(woke.append)
    _err(errno.EAGAIN, r.read, 10)
    assert r.poll() & select.POLLIN == 0
    assert w.write(b"x" * (PIPE_SIZE - 10)) == PIPE_SIZE - 10
    assert woke and woke[-1] & select.POLLIN
    assert r.poll() & select.POLLIN
    assert not w.poll() & select.POLLOUT
    _err(errno.EAGAIN, w.write, b"y" * 100)  # <= PIPE_BUF: all or nothing
    assert w.write(b"z" * (PIPE_BUF + 1)) == 10  # bigger: partial
    _err(errno.EAGAIN, w.write, b"z" * (PIPE_BUF + 1))
    assert len(r.read(PIPE_SIZE * 2)) == PIPE_SIZE
    _err(errno.ESPIPE, r.lseek, 0, os.SEEK_SET)
    _err(errno.ESPIPE, r.pread, 1, 0)
    _err(errno.EBADF, r.write, b"x")
    _err(errno.EBADF, w.read, 1)
    w.close()
    assert r.read(10) == b""  # EOF without writers
    assert r.poll() & select.POLLHUP
    r2, w2 = ns.pipe(ctx)
    r2.close()
    _err(errno.EPIPE, w2.write, b"x")
    assert w2.poll() & select.POLLERR
    w2.close()
    r.close()
    _err(errno.EINVAL, ns.pipe, ctx, os.O_APPEND)


def test_fifo_open_semantics(ns: Namespace) -> None:
    ctx = ns.context()
    ns.mknodat(ctx, None, b"/p", stat.S_IFIFO | 0o666)
    _err(errno.ENXIO, ns.openat, ctx, None, b"/p", os.O_WRONLY | os.O_NONBLOCK)
    # a blocking reader waits for a writer; the writer then does not wait
    with pytest.raises(FifoWait) as wait:
        ns.openat(ctx, None, b"/p", os.O_RDONLY)
    woke: list[int] = []
    wait.value.waitq.add(woke.append)
    w = ns.openat(ctx, None, b"/p", os.O_WRONLY)
    assert woke
    r = ns.openat(ctx, None, b"/p", os.O_RDONLY)  # the retried open
    assert w.write(b"hi") == 2 and r.read(10) == b"hi"
    w.close()
    assert r.read(10) == b""
    r.close()
    # a blocking writer waits for a reader
    with pytest.raises(FifoWait):
        ns.openat(ctx, None, b"/p", os.O_WRONLY)
    r = ns.openat(ctx, None, b"/p", os.O_RDONLY)
    _err(errno.EAGAIN, r.read, 1)  # the writer's open is about to complete: no EOF yet
    w = ns.openat(ctx, None, b"/p", os.O_WRONLY)
    w.write(b"ok")
    assert r.read(10) == b"ok"
    assert r.stat().st_ino == ns.fstatat(ctx, None, b"/p").st_ino
    assert r.path() == b"/p"
    r.close()
    w.close()


class _Mem:
    def __init__(self) -> None:
        self.data = bytearray(64)

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self.data[addr : addr + size])

    def write(self, addr: int, data: bytes) -> None:
        self.data[addr : addr + len(data)] = data


def test_ioctl_fionread_fionbio(ns: Namespace) -> None:
    from lxfs.vfs.file import FIONBIO, FIONREAD

    ctx = ns.context()
    mem = _Mem()
    f = ns.openat(ctx, None, b"/f", os.O_CREAT | os.O_RDWR, 0o644)
    f.write(b"0123456789")
    f.lseek(3, os.SEEK_SET)
    assert f.ioctl(FIONREAD, 0, mem) == 0 and int.from_bytes(mem.read(0, 4), "little") == 7
    mem.write(8, (1).to_bytes(4, "little"))
    f.ioctl(FIONBIO, 8, mem)
    assert f.nonblocking
    mem.write(8, (0).to_bytes(4, "little"))
    f.ioctl(FIONBIO, 8, mem)
    assert not f.nonblocking
    _err(errno.ENOTTY, f.ioctl, 0x5401, 0, mem)  # TCGETS
    r, w = ns.pipe(ctx)
    w.write(b"abc")
    r.ioctl(FIONREAD, 16, mem)
    assert int.from_bytes(mem.read(16, 4), "little") == 3
    for file in (f, r, w):
        file.close()
    ns.sync()


def test_fifo_open_retried_many_times_counts_once(ns: Namespace) -> None:
    ctx = ns.context()
    reader = ctx.copy()
    ns.mknodat(ctx, None, b"/p", stat.S_IFIFO | 0o666)
    for _ in range(3):  # woken for unrelated reasons, retried, parked again
        with pytest.raises(FifoWait):
            ns.openat(reader, None, b"/p", os.O_RDONLY)
    w = ns.openat(ctx, None, b"/p", os.O_WRONLY)  # a reader waits: no wait here
    r = ns.openat(reader, None, b"/p", os.O_RDONLY)
    r.close()
    _err(errno.EPIPE, w.write, b"x")  # no reader is waiting any more
    w.close()
    reader.release()


@pytest.mark.parametrize("store", ["tmpfs", "volfs"])
def test_fallocate_zero_range_and_what_has_no_fallocate(store: str, tmp_path: object) -> None:
    """What the conformance suite cannot compare with tmpfs (which has no ZERO_RANGE): ZERO_RANGE as ext4
    does it, and EOPNOTSUPP for files without f_op->fallocate. The rest: lxfs/conformance/groups/fallocate.py."""
    from devfs.registry import Devices
    from lxfs.vfs.file import FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE
    from lxfs.volfs.volfs import VolFs

    fs = TmpFs() if store == "tmpfs" else VolFs.create(os.path.join(str(tmp_path), "i.lxfs"))
    ns = Namespace(fs, Devices())
    ctx = ns.context()
    f = ns.openat(ctx, None, b"/f", os.O_CREAT | os.O_RDWR, 0o644)
    chunk = 128 << 10
    f.pwrite(b"x" * (3 * chunk), 0)
    f.fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, chunk - 2, chunk + 4)
    assert f.pread(3 * chunk, 0) == b"x" * (chunk - 2) + bytes(chunk + 4) + b"x" * (chunk - 2)
    f.fallocate(FALLOC_FL_ZERO_RANGE, 3 * chunk - 1, 10)  # without KEEP_SIZE: zeros up to the new end
    assert f.stat().st_size == 3 * chunk + 9
    assert f.pread(12, 3 * chunk - 2) == b"x" + bytes(10)
    _err(errno.EOPNOTSUPP, f.fallocate, FALLOC_FL_COLLAPSE_RANGE, 0, chunk)
    _err(errno.EOPNOTSUPP, f.fallocate, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, chunk)
    _err(errno.EOPNOTSUPP, f.fallocate, FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE, 0, chunk)
    _err(errno.EFBIG, f.fallocate, 0, 1 << 62, 1 << 62)
    f.close()
    ns.mkdirat(ctx, None, b"/d", 0o755)
    d = ns.openat(ctx, None, b"/d", os.O_RDONLY | os.O_DIRECTORY)
    _err(errno.EBADF, d.fallocate, 0, 0, 1)  # a directory is never open for writing
    d.close()
    ns.mknodat(ctx, None, b"/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    null = ns.openat(ctx, None, b"/null", os.O_WRONLY)
    _err(errno.ENODEV, null.fallocate, 0, 0, 1)
    null.close()
    ctx.release()
    if store == "volfs":
        fs.close()
