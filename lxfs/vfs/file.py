"""Open file descriptions (OpenFile: position, flags, shared by dup and fork) and per-process fd tables
(FdTable), like Linux's struct file and struct files_struct."""

from __future__ import annotations

import errno
import os
import select
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lxfs.vfs import inode, perm
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import DirEntry, FileOps, GuestMemory, SetAttr, StatFs
from lxfs.vfs.stat import Stat

if TYPE_CHECKING:
    from lxfs.vfs.namespace import Location, Namespace

__all__ = ["DirEntry", "FdTable", "OpenFile", "Stat"]

O_ACCMODE = os.O_ACCMODE
O_LARGEFILE = 0o100000  # x86-64 Linux's value; open() forces it on 64-bit (F_GETFL shows it)
O_ASYNC = 0o20000  # FASYNC
# fcntl(F_SETFL) may change only these (fs/fcntl.c SETFL_MASK)
SETFL_MASK = os.O_APPEND | os.O_NONBLOCK | os.O_NDELAY | os.O_DIRECT | os.O_NOATIME | O_ASYNC
_NOT_STATUS = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_CLOEXEC
O_PATH = os.O_PATH
MAX_RW = 0x7FFFF000  # MAX_RW_COUNT
MAX_OFF = (1 << 63) - 1
# include/uapi/linux/falloc.h: the modes (FALLOC_FL_MODE_MASK) and the one flag, KEEP_SIZE
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_UNSHARE_RANGE = 0x40
FALLOC_FL_WRITE_ZEROES = 0x80
_FALLOC_MODES = (
    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE
    | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES
)  # fmt: skip
_ZERO_PIECE = 1 << 20  # fallocate writes its zeros this much at a time
# include/uapi/asm-generic/ioctls.h
FIONREAD = 0x541B
FIONBIO = 0x5421
FIOASYNC = 0x5452


def dirent_reclen(name: bytes) -> int:
    """Size of a linux_dirent64 record for ``name`` (19-byte header + name + NUL, 8-aligned)."""
    return (19 + len(name) + 1 + 7) & ~7


class OpenFile:
    """An open file description. ``ops`` is None for stored files and directories (the VFS reads
    through the Filesystem), else the FileOps of a pipe, device or synthetic file.

    References: openat() returns an OpenFile holding one reference owned by the caller; FdTable.install
    takes that reference over; dup/fork call ``get()``; ``close()`` drops one and the last one releases
    the inode (fs.release_inode) and ``ops.release``."""

    __slots__ = ("_refs", "creds", "dentry", "flags", "loc", "name", "ns", "ops", "pos")

    def __init__(
        self,
        ns: Namespace,
        loc: Location,
        flags: int,
        ops: FileOps | None = None,
        creds: Credentials | None = None,
        dentry: tuple[Location, bytes] | None = None,
        name: bytes | None = None,
    ) -> None:
        self.ns = ns
        self.loc = loc
        self.flags = flags & ~_NOT_STATUS
        self.ops = ops
        self.creds = creds or Credentials.root()  # the opener's (Linux's f_cred)
        self.dentry = dentry  # (parent, name) it was opened by, for paths of non-directories
        self.name = name  # fixed /proc name of anonymous files: b"pipe:[12]"
        self.pos = 0
        self._refs = 1
        loc.mount.fs.open_inode(loc.ino)
        loc.mount.open_files += 1

    # -- references ----------------------------------------------------------------------------------

    def get(self) -> OpenFile:
        self._refs += 1
        return self

    def close(self) -> None:
        self._refs -= 1
        if self._refs:
            return
        try:
            if self.ops is not None:
                self.ops.release(self)
        finally:
            self.loc.mount.open_files -= 1
            linkable = self.ns._linkable
            if linkable:  # an O_TMPFILE inode stops being linkable once its file is closed
                linkable.discard((self.loc.mount.dev, self.loc.ino))
            fs = self.loc.mount.fs
            with fs.transaction():
                fs.release_inode(self.loc.ino)

    @property
    def refs(self) -> int:
        return self._refs

    # -- flags ---------------------------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        # access mode 3 opens for neither (ioctl-only opens)
        return not self.flags & O_PATH and (self.flags & O_ACCMODE) in (os.O_RDONLY, os.O_RDWR)

    @property
    def writable(self) -> bool:
        return not self.flags & O_PATH and (self.flags & O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & os.O_NONBLOCK)

    def getfl(self) -> int:
        """fcntl(F_GETFL)."""
        return self.flags

    def setfl(self, flags: int) -> None:
        """fcntl(F_SETFL): only SETFL_MASK changes; O_NOATIME needs ownership (EPERM)."""
        if self.flags & O_PATH:
            raise FsError(errno.EBADF)
        if flags & os.O_NOATIME and not self.flags & os.O_NOATIME:
            attr = self.loc.mount.fs.getattr(self.loc.ino)
            if not perm.is_owner(attr, self.creds):
                raise FsError(errno.EPERM)
        self.flags = (self.flags & ~SETFL_MASK) | (flags & SETFL_MASK)

    def _check_io(self) -> None:
        if self.flags & O_PATH:
            raise FsError(errno.EBADF)

    # -- data ----------------------------------------------------------------------------------------

    @property
    def advances_pos(self) -> bool:
        """read/write move the position: stored files and seekable FileOps that are not ``keeps_pos``
        (streams have no position; mem.c's devices never move theirs)."""
        ops = self.ops
        return ops is None or (ops.seekable and not ops.keeps_pos)

    def read(self, size: int) -> bytes:
        data = self._read(size, self.pos)
        if self.advances_pos:
            self.pos += len(data)
        return data

    def _check_positional(self, offset: int) -> None:
        """pread/pwrite: ESPIPE on pipes and other streams, EINVAL for a negative offset."""
        if self.ops is not None and not self.ops.seekable:
            self._check_io()
            raise FsError(errno.ESPIPE)
        if offset < 0:
            self._check_io()
            raise FsError(errno.EINVAL)

    def pread(self, size: int, offset: int) -> bytes:
        self._check_positional(offset)
        return self._read(size, offset)

    def _read(self, size: int, offset: int) -> bytes:
        if not self.readable:
            raise FsError(errno.EBADF)
        if size < 0:
            raise FsError(errno.EINVAL)
        size = min(size, MAX_RW)
        ops = self.ops
        if offset + size > MAX_OFF and (ops is None or ops.seekable):
            raise FsError(errno.EINVAL)  # rw_verify_area: the range overflows loff_t
        if ops is not None:
            return ops.read(self, size, offset)
        loc = self.loc
        fs = loc.mount.fs
        attr = fs.getattr(loc.ino)
        if stat.S_ISDIR(attr.mode):
            raise FsError(errno.EISDIR)
        data = fs.read(loc.ino, offset, size) if size and offset < attr.size else b""
        if not self.flags & os.O_NOATIME:
            inode.touch_atime(loc, attr)
        return data

    def write(self, data: bytes, creds: Credentials | None = None) -> int:
        n, end = self._write(data, self.pos, creds)
        if self.advances_pos:
            self.pos = end
        return n

    def pwrite(self, data: bytes, offset: int, creds: Credentials | None = None) -> int:
        self._check_positional(offset)
        return self._write(data, offset, creds)[0]

    def _write(self, data: bytes, offset: int, creds: Credentials | None) -> tuple[int, int]:
        """Write at ``offset`` (at the end with O_APPEND, even for pwrite, as Linux does); returns the
        count and the end offset."""
        if not self.writable:
            raise FsError(errno.EBADF)
        ops = self.ops
        if ops is not None:
            if self.flags & os.O_APPEND and ops.seekable:
                offset = ops.size(self)
            n = ops.write(self, data, offset)
            return n, offset + n
        if not data:
            return 0, offset
        loc = self.loc
        fs = loc.mount.fs
        with fs.transaction():
            attr = fs.getattr(loc.ino)
            if self.flags & os.O_APPEND:
                offset = attr.size
            if offset + len(data) > MAX_OFF:
                raise FsError(errno.EINVAL)  # rw_verify_area: the range overflows loff_t
            fs.write(loc.ino, offset, data)
            now = inode.now_ns()
            # file_update_time + file_remove_privs in one setattr
            fs.setattr(
                loc.ino,
                SetAttr(mtime_ns=now, ctime_ns=now, mode=perm.kill_privs_mode(attr, creds or self.creds)),
            )
        return len(data), offset + len(data)

    def lseek(self, offset: int, whence: int) -> int:
        """lseek(2): ESPIPE on streams, EINVAL for an unknown whence (ksys_lseek), else the file's own
        llseek (FileOps.llseek) or generic_llseek for stored files."""
        self._check_io()
        ops = self.ops
        if ops is None:
            new = self.generic_llseek(offset, whence)
        elif not ops.seekable:
            raise FsError(errno.ESPIPE)
        elif whence < os.SEEK_SET or whence > os.SEEK_HOLE:
            raise FsError(errno.EINVAL)
        else:
            new = ops.llseek(self, offset, whence)
        self.pos = new
        return new

    def generic_llseek(self, offset: int, whence: int) -> int:
        """generic_file_llseek: SEEK_SET/CUR/END against the size (the FileOps' ``size()`` or the
        inode's), SEEK_DATA/HOLE with one hole at EOF unless the filesystem knows better. Returns the
        new position without storing it."""
        ops = self.ops
        if whence == os.SEEK_SET:
            new = offset
        elif whence == os.SEEK_CUR:
            new = self.pos + offset
        elif whence in (os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE):
            if ops is not None:
                size = ops.size(self)
            else:
                attr = self.loc.mount.fs.getattr(self.loc.ino)
                if stat.S_ISDIR(attr.mode):
                    raise FsError(errno.EINVAL)  # dcache_dir_lseek: no SEEK_END on directories
                size = attr.size
            if whence == os.SEEK_END:
                new = size + offset
            else:
                if offset < 0 or offset >= size:
                    raise FsError(errno.ENXIO)
                # A filesystem that knows its holes offers seek_data(ino, offset, whence) (optional,
                # beyond the Filesystem protocol); otherwise generic_file_llseek_size: data everywhere
                # up to EOF, one hole at EOF.
                seek = getattr(self.loc.mount.fs, "seek_data", None) if ops is None else None
                if seek is not None:
                    new = min(seek(self.loc.ino, offset, whence), size)
                else:
                    new = offset if whence == os.SEEK_DATA else size
        else:
            raise FsError(errno.EINVAL)
        if new < 0 or new > MAX_OFF:
            raise FsError(errno.EINVAL)
        return new

    def truncate(self, size: int, creds: Credentials | None = None) -> None:
        """ftruncate(2): EINVAL unless a regular file open for writing; times always change."""
        self._check_io()
        if size < 0:
            raise FsError(errno.EINVAL)
        loc = self.loc
        attr = loc.mount.fs.getattr(loc.ino)
        if not stat.S_ISREG(attr.mode) or not self.writable or self.ops is not None:
            raise FsError(errno.EINVAL)
        inode.do_truncate(creds or self.creds, loc, attr, size, always_times=True)

    def fallocate(self, mode: int, offset: int, length: int, creds: Credentials | None = None) -> None:
        """fallocate(2): vfs_fallocate()'s checks in Linux's order, then what a sparse filesystem does:
        allocating reserves nothing (a grown file gets a hole, as ftruncate gives), PUNCH_HOLE and
        ZERO_RANGE make the range read as zeros (zeros are written over the data in it; holes stay
        holes). COLLAPSE/INSERT/UNSHARE_RANGE and WRITE_ZEROES are EOPNOTSUPP, as on tmpfs. Times
        change and suid/sgid go as for a write (file_modified)."""
        self._check_io()
        if offset < 0 or length <= 0:
            raise FsError(errno.EINVAL)
        if mode & ~(_FALLOC_MODES | FALLOC_FL_KEEP_SIZE):
            raise FsError(errno.EOPNOTSUPP)
        op = mode & _FALLOC_MODES
        if op in (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_WRITE_ZEROES):
            if mode & FALLOC_FL_KEEP_SIZE:
                raise FsError(errno.EOPNOTSUPP)
        elif op == FALLOC_FL_PUNCH_HOLE:
            if not mode & FALLOC_FL_KEEP_SIZE:
                raise FsError(errno.EOPNOTSUPP)
        elif op not in (0, FALLOC_FL_ZERO_RANGE, FALLOC_FL_UNSHARE_RANGE):
            raise FsError(errno.EOPNOTSUPP)  # more than one mode
        if not self.writable:
            raise FsError(errno.EBADF)
        loc = self.loc
        fs = loc.mount.fs
        attr = fs.getattr(loc.ino)
        fmt = stat.S_IFMT(attr.mode)
        if fmt == stat.S_IFIFO:
            raise FsError(errno.ESPIPE)
        if fmt == stat.S_IFDIR:
            raise FsError(errno.EISDIR)
        if fmt not in (stat.S_IFREG, stat.S_IFBLK):
            raise FsError(errno.ENODEV)
        end = offset + length
        if end > MAX_OFF:
            raise FsError(errno.EFBIG)
        if self.ops is not None or op not in (0, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE):
            raise FsError(errno.EOPNOTSUPP)  # no f_op->fallocate (a device, /proc), or a mode we lack
        with fs.transaction():
            attr = fs.getattr(loc.ino)
            if op:
                self._zero_range(offset, min(end, attr.size))
            now = inode.now_ns()
            changes = SetAttr(mtime_ns=now, ctime_ns=now, mode=perm.kill_privs_mode(attr, creds or self.creds))
            if not mode & FALLOC_FL_KEEP_SIZE and end > attr.size:
                changes.size = end
            fs.setattr(loc.ino, changes)

    def _zero_range(self, start: int, end: int) -> None:
        """Zeros over the data in [start, end), skipping holes where the filesystem knows them."""
        fs = self.loc.mount.fs
        ino = self.loc.ino
        seek = getattr(fs, "seek_data", None)
        pos = start
        while pos < end:
            stop = end
            if seek is not None:
                try:
                    pos = seek(ino, pos, os.SEEK_DATA)
                except FsError as exc:
                    if exc.errno == errno.ENXIO:
                        return  # only holes from here on
                    raise
                if pos >= end:
                    return
                stop = min(seek(ino, pos, os.SEEK_HOLE), end)
            while pos < stop:
                n = min(stop - pos, _ZERO_PIECE)
                fs.write(ino, pos, bytes(n))
                pos += n

    def fsync(self, datasync: bool = False) -> None:
        self._check_io()
        self.loc.mount.fs.fsync(self.loc.ino, datasync)

    def ioctl(self, request: int, arg: int, mem: GuestMemory) -> int:
        """ioctl(2) on the open file: FIONBIO and FIOASYNC change the status flags, FIONREAD on a
        regular file is the bytes left after the position; the rest goes to the FileOps (ENOTTY for
        stored files). FIOCLEX/FIONCLEX are the fd table's."""
        self._check_io()
        if request in (FIONBIO, FIOASYNC):
            on = int.from_bytes(mem.read(arg, 4), "little", signed=True)
            bit = os.O_NONBLOCK if request == FIONBIO else O_ASYNC
            self.flags = self.flags | bit if on else self.flags & ~bit
            return 0
        if self.ops is not None:
            return self.ops.ioctl(self, request, arg, mem)
        if request == FIONREAD:
            attr = self.loc.mount.fs.getattr(self.loc.ino)
            if stat.S_ISREG(attr.mode):
                mem.write(arg, max(0, attr.size - self.pos).to_bytes(4, "little"))
                return 0
        raise FsError(errno.ENOTTY)

    def poll(self) -> int:
        if self.ops is not None:
            return self.ops.poll(self)
        return select.POLLIN | select.POLLOUT | select.POLLRDNORM | select.POLLWRNORM

    # -- attributes ----------------------------------------------------------------------------------

    def stat(self) -> Stat:
        return inode.do_stat(self.loc)

    def statfs(self) -> StatFs:
        return self.ns.statfs_of(self.loc)

    def fchmod(self, creds: Credentials, mode: int) -> None:
        self._check_io()
        inode.do_chmod(creds, self.loc, mode)

    def fchown(self, creds: Credentials, uid: int, gid: int) -> None:
        self._check_io()
        inode.do_chown(creds, self.loc, uid, gid)

    def futimens(self, creds: Credentials, times: inode.Times | None) -> None:
        inode.check_times(times)
        self._check_io()
        inode.do_utimens(creds, self.loc, times)

    def fgetxattr(self, creds: Credentials, name: bytes, size: int | None = None) -> bytes:
        self._check_io()
        return inode.do_getxattr(creds, self.loc, name, size)

    def fsetxattr(self, creds: Credentials, name: bytes, value: bytes, flags: int = 0) -> None:
        self._check_io()
        inode.do_setxattr(creds, self.loc, name, value, flags)

    def flistxattr(self, creds: Credentials, size: int | None = None) -> list[bytes]:
        self._check_io()
        return inode.do_listxattr(creds, self.loc, size)

    def fremovexattr(self, creds: Credentials, name: bytes) -> None:
        self._check_io()
        inode.do_removexattr(creds, self.loc, name)

    # -- directories ---------------------------------------------------------------------------------

    def getdents(self, max_bytes: int) -> list[DirEntry]:
        """Entries from the current position that fit in ``max_bytes`` of linux_dirent64 records;
        EINVAL if not even one fits. The position becomes the last entry's cookie."""
        self._check_io()
        loc = self.loc
        fs = loc.mount.fs
        attr = fs.getattr(loc.ino)
        if not stat.S_ISDIR(attr.mode):
            raise FsError(errno.ENOTDIR)
        if attr.nlink == 0:
            raise FsError(errno.ENOENT)  # IS_DEADDIR
        out: list[DirEntry] = []
        used = 0
        for entry in fs.readdir(loc.ino, self.pos):
            used += dirent_reclen(entry.name)
            if used > max_bytes:
                if not out:
                    raise FsError(errno.EINVAL)
                break
            out.append(entry)
            self.pos = entry.offset
        if not self.flags & os.O_NOATIME:
            inode.touch_atime(loc, attr)
        return out

    def path(self) -> bytes:
        """The path /proc/PID/fd shows (from the namespace root)."""
        return self.ns.file_path(self)

    def __repr__(self) -> str:
        return f"<OpenFile ino={self.loc.ino} flags={self.flags:#o} pos={self.pos} refs={self._refs}>"


class FdTable:
    """A process's file descriptors: fd -> (OpenFile, close-on-exec). Lowest free fd first; EMFILE at
    the RLIMIT_NOFILE given."""

    __slots__ = ("_cloexec", "_files", "rlimit")

    def __init__(self, rlimit: int = 1024) -> None:
        self._files: list[OpenFile | None] = []
        self._cloexec: list[bool] = []
        self.rlimit = rlimit

    def _free(self, minfd: int) -> int:
        files = self._files
        for fd in range(minfd, len(files)):
            if files[fd] is None:
                return fd
        return max(minfd, len(files))

    def _place(self, fd: int, file: OpenFile, cloexec: bool) -> None:
        files = self._files
        if fd >= len(files):
            grow = fd + 1 - len(files)
            files.extend([None] * grow)
            self._cloexec.extend([False] * grow)
        files[fd] = file
        self._cloexec[fd] = cloexec

    def install(self, file: OpenFile, cloexec: bool = False, minfd: int = 0) -> int:
        """Take over the caller's reference to ``file``; returns the new fd (EMFILE, EINVAL for a bad
        minfd as F_DUPFD)."""
        if minfd < 0 or minfd >= self.rlimit:
            file.close()
            raise FsError(errno.EINVAL)
        fd = self._free(minfd)
        if fd >= self.rlimit:
            file.close()
            raise FsError(errno.EMFILE)
        self._place(fd, file, cloexec)
        return fd

    def get(self, fd: int) -> OpenFile:
        try:
            file = self._files[fd] if fd >= 0 else None
        except IndexError:
            file = None
        if file is None:
            raise FsError(errno.EBADF)
        return file

    def close(self, fd: int) -> None:
        file = self.get(fd)
        self._files[fd] = None
        self._cloexec[fd] = False
        file.close()

    def dup(self, fd: int, minfd: int = 0, cloexec: bool = False) -> int:
        """dup(2) and fcntl(F_DUPFD/F_DUPFD_CLOEXEC)."""
        return self.install(self.get(fd).get(), cloexec, minfd)

    def dup2(self, oldfd: int, newfd: int) -> int:
        file = self.get(oldfd)
        if newfd == oldfd:
            return newfd
        return self._dup_to(file, newfd, False)

    def dup3(self, oldfd: int, newfd: int, flags: int) -> int:
        if flags & ~os.O_CLOEXEC or oldfd == newfd:
            raise FsError(errno.EINVAL)
        return self._dup_to(self.get(oldfd), newfd, bool(flags & os.O_CLOEXEC))

    def _dup_to(self, file: OpenFile, newfd: int, cloexec: bool) -> int:
        if newfd < 0 or newfd >= self.rlimit:
            raise FsError(errno.EBADF)
        old = self._files[newfd] if newfd < len(self._files) else None
        self._place(newfd, file.get(), cloexec)
        if old is not None:
            old.close()
        return newfd

    def get_cloexec(self, fd: int) -> bool:
        self.get(fd)
        return self._cloexec[fd]

    def set_cloexec(self, fd: int, on: bool) -> None:
        self.get(fd)
        self._cloexec[fd] = on

    def copy(self) -> FdTable:
        """fork's copy: the same open file descriptions, one more reference each."""
        new = FdTable(self.rlimit)
        new._files = [f.get() if f is not None else None for f in self._files]
        new._cloexec = list(self._cloexec)
        return new

    def close_on_exec(self) -> None:
        for fd, flag in enumerate(self._cloexec):
            if flag and self._files[fd] is not None:
                self.close(fd)

    def close_all(self) -> None:
        for fd, file in enumerate(self._files):
            if file is not None:
                self.close(fd)

    def items(self) -> Iterator[tuple[int, OpenFile]]:
        for fd, file in enumerate(self._files):
            if file is not None:
                yield fd, file

    def __len__(self) -> int:
        return sum(1 for f in self._files if f is not None)
