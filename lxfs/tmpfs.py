"""TmpFs: an in-memory Filesystem (tmpfs mounts, /dev/shm, and the VFS tests' reference backend).

It only stores, as the Filesystem protocol says; the VFS checks every rule before calling it."""

from __future__ import annotations

import errno
import itertools
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lxfs.linux import TMPFS_MAGIC
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import XATTR_CREATE, XATTR_REPLACE, Attr, DirEntry, FileOps, SetAttr, StatFs

CHUNK = 4096  # data is stored in pages, as tmpfs does; a missing page is a hole
_FIRST_COOKIE = 3  # 1 and 2 are '.' and '..'


class _Inode:
    __slots__ = ("attr", "chunks", "entries", "next_cookie", "opens", "parent", "target", "xattrs")

    def __init__(self, attr: Attr) -> None:
        self.attr = attr
        self.xattrs: dict[bytes, bytes] = {}
        self.opens = 0
        self.chunks: dict[int, bytearray] = {}
        self.target = b""
        # directories: name -> (ino, cookie); insertion order is cookie order
        self.entries: dict[bytes, tuple[int, int]] = {}
        self.next_cookie = _FIRST_COOKIE
        self.parent = 0


class TmpFs:
    """An in-memory filesystem with hard links, orphans kept until their last release, xattrs, sparse
    files and stable readdir cookies."""

    fs_type = "tmpfs"
    magic = TMPFS_MAGIC
    # statfs's size and inode count (mount options size= and nr_inodes=; Linux's default is half of
    # RAM, mm/shmem.c shmem_default_max_blocks): set per instance where the RAM is known
    max_blocks = 1 << 20
    max_inodes = 1 << 20

    def __init__(
        self, mode: int = 0o1777, uid: int = 0, gid: int = 0, now_ns: int | None = None, readonly: bool = False
    ) -> None:
        self.readonly = readonly
        self._inodes: dict[int, _Inode] = {}
        self._next_ino = itertools.count(2)
        self._depth = 0
        root = self._new(stat.S_IFDIR | (mode & 0o7777), uid, gid, 0, time.time_ns() if now_ns is None else now_ns)
        root.attr.nlink = 2
        root.attr.size = 40  # tmpfs: 2 * BOGO_DIRENT_SIZE for '.' and '..'
        root.parent = root.attr.ino
        self.root_ino = root.attr.ino

    # -- helpers -------------------------------------------------------------------------------------

    def _new(self, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> _Inode:
        ino = next(self._next_ino)
        node = _Inode(Attr(ino, mode, 1, uid, gid, rdev, 0, now_ns, now_ns, now_ns))
        self._inodes[ino] = node
        return node

    def _get(self, ino: int) -> _Inode:
        try:
            return self._inodes[ino]
        except KeyError:
            raise FsError(errno.ENOENT) from None

    def _add_entry(self, d: _Inode, name: bytes, ino: int) -> None:
        d.entries[name] = (ino, d.next_cookie)
        d.next_cookie += 1
        d.attr.size = len(d.entries) * 20 + 40  # tmpfs's BOGO_DIRENT_SIZE

    def _del_entry(self, d: _Inode, name: bytes) -> int:
        ino, _ = d.entries.pop(name)
        d.attr.size = len(d.entries) * 20 + 40
        return ino

    def _drop_link(self, node: _Inode) -> None:
        node.attr.nlink -= 1
        self._maybe_free(node)

    def _maybe_free(self, node: _Inode) -> None:
        if node.attr.nlink <= 0 and node.opens <= 0:
            self._inodes.pop(node.attr.ino, None)

    def _blocks(self, node: _Inode) -> int:
        return len(node.chunks) * (CHUNK // 512)

    # -- Filesystem ----------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Memory has nothing to commit; callers only rely on the nesting contract.
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def getattr(self, ino: int) -> Attr:
        node = self._get(ino)
        a = node.attr
        if node.chunks:
            a.blocks = self._blocks(node)
        return Attr(a.ino, a.mode, a.nlink, a.uid, a.gid, a.rdev, a.size, a.atime_ns, a.mtime_ns, a.ctime_ns, a.blocks)

    def setattr(self, ino: int, changes: SetAttr) -> None:
        if self.readonly:
            raise FsError(errno.EROFS)
        node = self._get(ino)
        a = node.attr
        if changes.mode is not None:
            a.mode = (a.mode & ~0o7777) | (changes.mode & 0o7777)
        if changes.uid is not None:
            a.uid = changes.uid
        if changes.gid is not None:
            a.gid = changes.gid
        if changes.size is not None and changes.size != a.size:
            self._truncate(node, changes.size)
        if changes.atime_ns is not None:
            a.atime_ns = changes.atime_ns
        if changes.mtime_ns is not None:
            a.mtime_ns = changes.mtime_ns
        if changes.ctime_ns is not None:
            a.ctime_ns = changes.ctime_ns

    def _truncate(self, node: _Inode, size: int) -> None:
        if size < node.attr.size:
            last = (size + CHUNK - 1) // CHUNK  # chunks from here on lie wholly beyond size
            for idx in [i for i in node.chunks if i >= last]:
                del node.chunks[idx]
            if size % CHUNK and size // CHUNK in node.chunks:
                chunk = node.chunks[size // CHUNK]
                off = size % CHUNK
                chunk[off:] = bytes(CHUNK - off)
        node.attr.size = size
        node.attr.blocks = self._blocks(node)

    def lookup(self, dir_ino: int, name: bytes) -> int | None:
        d = self._get(dir_ino)
        if name == b"..":
            return d.parent
        e = d.entries.get(name)
        return None if e is None else e[0]

    def readdir(self, dir_ino: int, offset: int) -> Iterator[DirEntry]:
        d = self._get(dir_ino)
        if offset < 1:
            yield DirEntry(b".", dir_ino, stat.S_IFDIR >> 12, 1)
        if offset < 2:
            yield DirEntry(b"..", d.parent, stat.S_IFDIR >> 12, 2)
        # a snapshot: entries may be added or removed while the caller iterates
        for name, (ino, cookie) in list(d.entries.items()):
            if cookie <= offset or d.entries.get(name, (0, 0))[1] != cookie:
                continue
            child = self._inodes.get(ino)
            if child is not None:
                yield DirEntry(name, ino, (child.attr.mode & 0o170000) >> 12, cookie)

    def find_name(self, dir_ino: int, ino: int) -> bytes | None:
        d = self._inodes.get(dir_ino)
        if d is None:
            return None
        for name, (child, _) in d.entries.items():
            if child == ino:
                return name
        return None

    def _check_writable(self) -> None:
        if self.readonly:
            raise FsError(errno.EROFS)

    def create(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> int:
        self._check_writable()
        d = self._get(dir_ino)
        node = self._new(mode, uid, gid, rdev, now_ns)
        self._add_entry(d, name, node.attr.ino)
        return node.attr.ino

    def mkdir(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, now_ns: int) -> int:
        self._check_writable()
        d = self._get(dir_ino)
        node = self._new(stat.S_IFDIR | (mode & 0o7777), uid, gid, 0, now_ns)
        node.attr.nlink = 2
        node.attr.size = 40
        node.parent = dir_ino
        self._add_entry(d, name, node.attr.ino)
        d.attr.nlink += 1
        return node.attr.ino

    def symlink(self, dir_ino: int, name: bytes, target: bytes, uid: int, gid: int, now_ns: int) -> int:
        self._check_writable()
        d = self._get(dir_ino)
        node = self._new(stat.S_IFLNK | 0o777, uid, gid, 0, now_ns)
        node.target = bytes(target)
        node.attr.size = len(target)
        self._add_entry(d, name, node.attr.ino)
        return node.attr.ino

    def link(self, ino: int, dir_ino: int, name: bytes) -> None:
        self._check_writable()
        node = self._get(ino)
        self._add_entry(self._get(dir_ino), name, ino)
        node.attr.nlink += 1

    def unlink(self, dir_ino: int, name: bytes) -> None:
        self._check_writable()
        d = self._get(dir_ino)
        ino = self._del_entry(d, name)
        self._drop_link(self._get(ino))

    def rmdir(self, dir_ino: int, name: bytes) -> None:
        self._check_writable()
        d = self._get(dir_ino)
        ino = self._del_entry(d, name)
        node = self._get(ino)
        node.attr.nlink = 0
        d.attr.nlink -= 1
        self._maybe_free(node)

    def rename(self, old_dir: int, old_name: bytes, new_dir: int, new_name: bytes, flags: int) -> None:
        from lxfs.vfs.interfaces import RENAME_EXCHANGE

        self._check_writable()
        od, nd = self._get(old_dir), self._get(new_dir)
        ino = od.entries[old_name][0]
        node = self._get(ino)
        is_dir = stat.S_ISDIR(node.attr.mode)
        target = nd.entries.get(new_name)
        if flags & RENAME_EXCHANGE:
            assert target is not None
            other = self._get(target[0])
            other_dir = stat.S_ISDIR(other.attr.mode)
            # both names keep their cookies' positions only loosely: re-add as new entries
            self._del_entry(od, old_name)
            self._del_entry(nd, new_name)
            self._add_entry(nd, new_name, ino)
            self._add_entry(od, old_name, other.attr.ino)
            if is_dir:
                node.parent = new_dir
            if other_dir:
                other.parent = old_dir
            if is_dir != other_dir and od is not nd:
                delta = 1 if is_dir else -1
                od.attr.nlink -= delta
                nd.attr.nlink += delta
            return
        if target is not None:
            victim = self._get(target[0])
            self._del_entry(nd, new_name)
            if stat.S_ISDIR(victim.attr.mode):
                victim.attr.nlink = 0
                nd.attr.nlink -= 1
                self._maybe_free(victim)
            else:
                self._drop_link(victim)
        self._del_entry(od, old_name)
        self._add_entry(nd, new_name, ino)
        if is_dir:
            node.parent = new_dir
            od.attr.nlink -= 1
            nd.attr.nlink += 1

    def readlink(self, ino: int) -> bytes:
        return self._get(ino).target

    def read(self, ino: int, offset: int, size: int) -> bytes:
        node = self._get(ino)
        end = min(node.attr.size, offset + size)
        if end <= offset:
            return b""
        chunks = node.chunks
        if not chunks:
            return bytes(end - offset)
        out = []
        pos = offset
        get = chunks.get
        while pos < end:
            idx, off = divmod(pos, CHUNK)
            n = min(CHUNK - off, end - pos)
            chunk = get(idx)
            out.append(memoryview(chunk)[off : off + n] if chunk is not None else bytes(n))
            pos += n
        return b"".join(out)

    def write(self, ino: int, offset: int, data: bytes) -> None:
        self._check_writable()
        node = self._get(ino)
        chunks = node.chunks
        pos, end, src = offset, offset + len(data), 0
        view = memoryview(data)
        while pos < end:
            idx, off = divmod(pos, CHUNK)
            n = min(CHUNK - off, end - pos)
            chunk = chunks.get(idx)
            if chunk is None:
                chunk = chunks[idx] = bytearray(CHUNK)
            chunk[off : off + n] = view[src : src + n]
            pos += n
            src += n
        if end > node.attr.size:
            node.attr.size = end
        node.attr.blocks = self._blocks(node)

    def seek_data(self, ino: int, offset: int, whence: int) -> int:
        """SEEK_DATA/SEEK_HOLE at chunk granularity (the VFS checked 0 <= offset < size). SEEK_DATA past
        the last chunk is ENXIO; SEEK_HOLE finds the implicit hole at EOF at the latest."""
        node = self._get(ino)
        idx = offset // CHUNK
        if whence == os.SEEK_DATA:
            if idx in node.chunks:
                return offset
            later = [i for i in node.chunks if i > idx]
            if not later:
                raise FsError(errno.ENXIO)
            return min(later) * CHUNK
        while idx in node.chunks:
            idx += 1
        return max(offset, idx * CHUNK)

    def fsync(self, ino: int, datasync: bool) -> None:
        self._get(ino)

    def sync(self) -> None:
        pass

    def getxattr(self, ino: int, name: bytes) -> bytes:
        try:
            return self._get(ino).xattrs[name]
        except KeyError:
            raise FsError(errno.ENODATA) from None

    def setxattr(self, ino: int, name: bytes, value: bytes, flags: int) -> None:
        self._check_writable()
        x = self._get(ino).xattrs
        if flags & XATTR_CREATE and name in x:
            raise FsError(errno.EEXIST)
        if flags & XATTR_REPLACE and name not in x:
            raise FsError(errno.ENODATA)
        x[name] = bytes(value)

    def listxattr(self, ino: int) -> list[bytes]:
        return list(self._get(ino).xattrs)

    def removexattr(self, ino: int, name: bytes) -> None:
        self._check_writable()
        try:
            del self._get(ino).xattrs[name]
        except KeyError:
            raise FsError(errno.ENODATA) from None

    def statfs(self) -> StatFs:
        used = sum(len(n.chunks) for n in self._inodes.values()) * (CHUNK // 4096)
        total, inodes = self.max_blocks, self.max_inodes
        free = max(0, total - used)
        return StatFs(self.magic, 4096, total, free, free, inodes, max(0, inodes - len(self._inodes)))

    def open_inode(self, ino: int) -> None:
        self._get(ino).opens += 1

    def release_inode(self, ino: int) -> None:
        node = self._inodes.get(ino)
        if node is not None:
            node.opens -= 1
            self._maybe_free(node)

    def open_file(self, ino: int, flags: int) -> FileOps | None:
        return None
