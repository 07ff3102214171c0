"""Storing Entries into an image through the VFS (tar and host-directory import, --from-host): GNU tar's
extraction rules -- existing non-directories replaced, missing parents created, owner before mode
(chown clears set-id bits), directory times set after their contents, hard links within the
destination only, nothing under a symlink that the same import created."""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from lxfs.images.entries import Entry, Warn, ancestors, describe
from lxfs.images.imagefs import ImageFs
from lxfs.vfs.errors import FsError
from lxfs.vfs.stat import Stat

# One transaction per member costs about what one transaction for a whole archive does, and a commit
# per VFS call is ~1.6x slower (bench/bench_images.py: 1,500 files, 52 MB: 5.4 s, 5.2 s, 8.9 s). A member
# of more than BIG_FILE bytes commits per write instead, so no transaction holds the write lock for
# long (other writers wait at most 5 s).
BIG_FILE = 32 << 20


def _ignore(_n: int) -> None:
    pass


class ImageWriter:
    """Stores entries under ``dest`` (an absolute image path) of an open image."""

    def __init__(self, fs: ImageFs, warn: Warn, dest: bytes = b"/", trusted: bool = False) -> None:
        """``trusted``: the entries are lxfs's own (init, --from-host), so paths may go through
        symlinks stored earlier (e.g. merged /usr's /bin -> usr/bin); archives are never trusted."""
        self.fs = fs
        self.trusted = trusted
        self.warn = warn
        self.dest = dest.rstrip(b"/")
        self._dir_times: dict[bytes, tuple[int, int]] = {}  # path -> (atime, mtime); the last member wins
        self._symlinks: set[bytes] = set()  # entry paths of symlinks this import created
        self._dirs: set[bytes] = set()  # entry paths known to be directories (saves a walk per member)
        self._chunk = fs.chunk_size
        self._zero = bytes(self._chunk)
        self.stored = 0
        self.bytes = 0
        self.on_bytes: Callable[[int], None] = _ignore  # progress: file bytes stored

    def full(self, path: bytes) -> bytes:
        return self.dest + b"/" + path if path else self.dest or b"/"

    # Queries, for --from-host.
    def lstat(self, abs_path: bytes) -> Stat | None:
        return self.fs.lstat(abs_path)

    def readlink(self, abs_path: bytes) -> bytes:
        return self.fs.readlink(abs_path)

    def batch(self) -> AbstractContextManager[None]:
        return self.fs.transaction()

    def put_all(self, entries: Iterable[Entry]) -> None:
        """Store entries, each in one transaction (a member appears whole or not at all). A file larger
        than BIG_FILE is written without one, so the write lock is released between its writes and
        other processes are not kept waiting. Whatever was stored stays stored if the iteration raises
        (a truncated archive, an interrupt): the member being stored is rolled back or removed."""
        for entry in entries:
            if entry.size > BIG_FILE and entry.hardlink_to is None:
                self.put(entry)
            else:
                with self.fs.transaction():
                    self.put(entry)

    def put(self, entry: Entry) -> None:
        """Store one entry; a failure is reported as a warning naming the member, never raised."""
        try:
            self._put(entry)
        except FsError as exc:
            self.warn(f"{describe(entry.path)}: {exc.strerror}: not stored")
        else:
            self.stored += 1

    def _put(self, entry: Entry) -> None:
        for prefix in ancestors(entry.path):
            if prefix in self._symlinks and not self.trusted:
                self.warn(f"{describe(entry.path)}: path goes through the symlink {describe(prefix)}: refused")
                return
        path = self.full(entry.path)
        fs = self.fs
        if entry.path:
            self._make_parents(entry.path)
        existing = fs.lstat(path)
        if entry.hardlink_to is not None:
            self._hardlink(entry, path, existing)
            return
        kind = entry.kind
        if kind == stat.S_IFDIR:
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                self._remove(entry.path, existing)
                existing = None
            if existing is None:
                fs.mkdir(path, entry.mode & 0o7777)
            self._dirs.add(entry.path)
        else:
            if existing is not None:
                self._remove(entry.path, existing)
            if kind == stat.S_IFREG:
                self._write_file(path, entry)
            elif kind == stat.S_IFLNK:
                fs.symlink(entry.symlink_target, path)
                self._symlinks.add(entry.path)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
                fs.mknod(path, entry.mode, entry.rdev)
            else:
                self.warn(f"{describe(entry.path)}: socket ignored", problem=False)
                return
        self._set_metadata(path, entry)

    def _make_parents(self, rel: bytes) -> None:
        """Missing parent directories are created as GNU tar does: 0755, owned by the importer."""
        for prefix in ancestors(rel):
            if prefix in self._dirs:
                continue
            full = self.full(prefix)
            st = self.fs.lstat(full)
            if st is None:
                self.fs.mkdir(full, 0o755)
            elif not stat.S_ISDIR(st.st_mode):
                return  # the member's own call follows an image symlink or fails with ENOTDIR
            self._dirs.add(prefix)

    def _remove(self, rel: bytes, existing: Stat) -> None:
        path = self.full(rel)
        if stat.S_ISDIR(existing.st_mode):
            self.fs.rmdir(path)  # ENOTEMPTY: the member is refused with that message
        else:
            self.fs.unlink(path)
        self._dirs.discard(rel)
        self._symlinks.discard(rel)

    def _hardlink(self, entry: Entry, path: bytes, existing: Stat | None) -> None:
        assert entry.hardlink_to is not None
        for prefix in ancestors(entry.hardlink_to):
            if prefix in self._symlinks:
                self.warn(f"{describe(entry.path)}: hard link target goes through a symlink: refused")
                return
        target = self.full(entry.hardlink_to)
        tattr = self.fs.lstat(target)
        if tattr is None:
            self.warn(f"{describe(entry.path)}: hard link target {describe(entry.hardlink_to)} does not exist: refused")
            return
        if stat.S_ISDIR(tattr.st_mode):
            self.warn(f"{describe(entry.path)}: hard link target {describe(entry.hardlink_to)} is a directory: refused")
            return
        if existing is not None:
            if existing.st_ino == tattr.st_ino:
                return
            self._remove(entry.path, existing)
        self.fs.link(target, path)

    def _write_file(self, path: bytes, entry: Entry) -> None:
        chunk, zero, fs = self._chunk, memoryview(self._zero), self.fs
        handle = fs.create_file(path, entry.mode & 0o7777)
        complete = False
        try:
            if entry.data is not None:
                for offset, block in entry.data():
                    view = memoryview(block)
                    pos = 0
                    # Chunk-aligned pieces; all-zero chunks are left as holes (the image stays sparse).
                    while pos < len(view):
                        end = min(len(view), pos + chunk - (offset + pos) % chunk)
                        piece = view[pos:end]
                        if piece != zero[: len(piece)]:
                            fs.write(handle, offset + pos, piece)
                        pos = end
                    self.bytes += len(block)
                    self.on_bytes(len(block))
            fs.truncate(handle, entry.size)
            complete = True
        finally:
            fs.close_file(handle)
            if not complete:
                fs.unlink(path)  # no half-written member is left behind

    def _set_metadata(self, path: bytes, entry: Entry) -> None:
        fs = self.fs
        kind = entry.kind
        fs.lchown(path, entry.uid, entry.gid)
        if kind != stat.S_IFLNK:
            fs.chmod(path, entry.mode & 0o7777)  # after chown, which clears set-id bits
        for name, value in entry.xattrs.items():
            try:
                fs.lsetxattr(path, name, value)
            except FsError as exc:
                self.warn(f"{describe(entry.path)}: xattr {name.decode(errors='backslashreplace')}: {exc.strerror}")
        atime = entry.mtime_ns if entry.atime_ns is None else entry.atime_ns
        if kind == stat.S_IFDIR:
            self._dir_times[path] = (atime, entry.mtime_ns)
        else:
            fs.lutimens(path, atime, entry.mtime_ns)

    def finish(self) -> None:
        """Set directory times once everything inside them was stored (a directory's times do not
        change when its subdirectories' times are set, so the order does not matter)."""
        with self.fs.transaction():
            for path, (atime, mtime) in self._dir_times.items():
                try:
                    self.fs.lutimens(path, atime, mtime)
                except FsError as exc:
                    if exc.errno != errno.ENOENT:  # replaced by a later member
                        raise
        self._dir_times.clear()
