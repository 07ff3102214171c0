"""VolFs: the Filesystem (lxfs/vfs/interfaces.py) stored in one SQLite image.

Owns the structural changes (dentries, link counts, data), one transaction per VFS call, the attribute
and dentry caches (revalidated when anyone commits -- WAL-index header, then ``PRAGMA data_version`` --
so several processes on one image stay coherent), and orphans: inodes unlinked while some process holds
them open (OFD locks on the image's ``-holds`` file), freed by the last holder's release or reaped at
the next open of the image once no process holds them.

Not thread-safe: callers serialise (the kernel lock; one FUSE worker thread).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import random
import sqlite3
import stat
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar, overload

from lxfs.linux import VOLFS_MAGIC
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import (
    RENAME_EXCHANGE,
    RENAME_WHITEOUT,
    XATTR_CREATE,
    XATTR_REPLACE,
    Attr,
    DirEntry,
    FileOps,
    SetAttr,
    StatFs,
)
from lxfs.volfs import store as sql
from lxfs.volfs.layout import (
    APPLICATION_ID,
    CHUNK_SIZE,
    PAGE_SIZE,
    ROOT_INO,
    SCHEMA_VERSION,
    ImageError,
    ImageNotWritable,
    name_hash,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

CACHE_LIMIT = 65536  # entries per cache before it is dropped wholesale
READDIR_BATCH = 256
_SHM_HEADER = sql.WalIndex.HEADER  # bytes of the WAL-index header _check_others compares
_HEAD_FIELDS = struct.Struct("=8xI4xI")  # iChange (offset 8) and mxFrame (offset 16) of that header
_U32 = struct.Struct("=I")

# readdir cookies: 1 and 2 are '.' and '..'; an entry's cookie is layout.name_hash(name).


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    return int(text[text.rindex(b")") + 2 :].split()[19])


def holder_alive(pid: int, start_time: int) -> bool:
    return process_start_time(pid) == start_time


class _Transaction:
    """The outermost block is one SQLite write transaction; inner blocks join it. BEGIN IMMEDIATE is
    issued lazily, by the first statement inside (VolFs._sync), so a block that touches nothing (the
    VFS's close -> release_inode) costs no database round trip."""

    __slots__ = ("fs",)

    def __init__(self, fs: VolFs) -> None:
        self.fs = fs

    def __enter__(self) -> None:
        self.fs._depth += 1

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        fs = self.fs
        fs._depth -= 1
        if fs._depth or not fs._begun:
            return
        fs._begun = False
        if et is None:
            wal = fs._wal
            try:
                if fs._times:
                    fs._flush_times()
                if wal is None:
                    fs._cur.execute("COMMIT")
                    return
                before = wal.map[8:12]  # the WAL-index change counter, read under the write lock
                fs._cur.execute("COMMIT")
            except sqlite3.Error as exc:
                fs._rollback()
                raise _db_error(exc) from exc
            except BaseException:
                fs._rollback()  # never leave the transaction (and the image's write lock) open
                raise
            fs._after_commit(wal, before)
            return
        fs._rollback()
        if isinstance(ev, sqlite3.Error):
            raise _db_error(ev) from ev


P = ParamSpec("P")
R = TypeVar("R")


def _reads(method: Callable[Concatenate[VolFs, P], R]) -> Callable[Concatenate[VolFs, P], R]:
    """A read outside any transaction: a database failure surfaces as an errno, like the writes'."""

    @functools.wraps(method)
    def wrapper(self: VolFs, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc

    return wrapper


def _db_error(exc: sqlite3.Error) -> FsError:
    """A database failure as the errno a syscall can return (a lock held too long, corruption)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return FsError(errno.EIO, "lxfs image is locked by another process (busy timeout)")
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in text.replace(" ", ""):
        return FsError(errno.EROFS)
    if "full" in text:  # SQLITE_FULL: "database or disk is full"
        return FsError(errno.ENOSPC)
    return FsError(errno.EIO, f"lxfs image: {text}")


# The times an image can hold: integer ns in SQLite's signed 64 bits, i.e. whole seconds from
# 1677-09-21 to 2262-04-11 (Linux's s_time_min/s_time_max for a file system; timestamp_truncate()).
_TIME_MAX_S = (2**63 - 1) // 10**9
_TIME_MIN_S = -_TIME_MAX_S
_TIME_MAX_NS = _TIME_MAX_S * 10**9
_TIME_MIN_NS = _TIME_MIN_S * 10**9


def _time_truncated(changes: SetAttr) -> SetAttr:
    """``changes`` with its times clamped to the range the image holds, as Linux's timestamp_truncate()
    does: the seconds to [s_time_min, s_time_max], and no nanoseconds at either bound."""

    def clamp(t: int | None) -> int | None:
        if t is None:
            return None
        return _TIME_MAX_NS if t >= _TIME_MAX_NS else _TIME_MIN_NS if t <= _TIME_MIN_NS else t

    return dataclasses.replace(
        changes, atime_ns=clamp(changes.atime_ns), mtime_ns=clamp(changes.mtime_ns), ctime_ns=clamp(changes.ctime_ns)
    )


def _on_read_only_storage(path: str, readonly: bool) -> bool:
    """Whether ``path`` must be opened as immutable: read-only, where SQLite can neither find nor make the
    -shm it needs for a WAL-mode database (a read-only file system, or a directory this user cannot write).
    No -shm also means no process has the image open for writing now (a writer keeps one); one that
    starts later, as another user, is not seen. Raises ImageNotWritable if it is to be written and cannot
    be, ImageError if its -wal holds commits that only a -shm could show."""
    folder = os.path.dirname(os.path.abspath(path))
    if not readonly:
        # SQLite writes the image, and its -wal and -shm, which it makes in the directory if missing.
        for target in (path, path + "-wal", path + "-shm"):
            if os.path.exists(target) and not os.access(target, os.W_OK):
                raise ImageNotWritable(f"{path}: cannot be opened for writing ({_why_not_writable(target)})")
        if not (os.path.exists(path + "-wal") and os.path.exists(path + "-shm")) and not os.access(folder, os.W_OK):
            raise ImageNotWritable(f"{path}: cannot be opened for writing ({_why_not_writable(folder)})")
        return False
    if os.path.exists(path + "-shm") or os.access(folder, os.W_OK):
        return False
    try:
        wal = os.stat(path + "-wal").st_size
    except OSError:
        wal = 0
    if wal:
        raise ImageError(
            f"{path}: its -wal holds changes not yet in the image, and the directory is read-only, so SQLite"
            " cannot make the -shm it needs to read them: copy the image with its -wal somewhere writable"
        )
    return True


def _why_not_writable(path: str) -> str:
    try:
        return "read-only file system" if os.statvfs(path).f_flag & os.ST_RDONLY else "permission denied"
    except OSError as exc:
        return exc.strerror or "cannot be written"


def _application_id(path: str, header: bytes) -> int:
    """The database's application_id, read without writing anything: a writable connection would switch
    a foreign database to WAL mode, and one that is not an image must be left byte for byte as it was.

    The header (offset 68) is the truth unless a WAL file with frames sits beside a WAL-mode database
    (a new image's header page stays there until its first checkpoint); then a read-only connection asks
    SQLite, which reads the WAL (and may create the -shm index a WAL reader needs)."""
    in_header = int.from_bytes(header[68:72], "big") if len(header) >= 72 else 0
    if in_header == APPLICATION_ID or len(header) < 20 or header[18] != 2:
        return in_header  # not in WAL mode: nothing newer than the file's own header
    try:
        wal_size = os.stat(path + "-wal").st_size
    except OSError:
        wal_size = 0
    if wal_size == 0:
        return in_header
    probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=sql.BUSY_TIMEOUT_S)
    try:
        (app_id,) = probe.execute("PRAGMA application_id").fetchone()
    finally:
        probe.close()
    return int(app_id)


class _CreateImage(Protocol):
    def __call__(self, path: str | os.PathLike[str], page_size: int = ...) -> VolFs: ...


class _CreateInode(Protocol):
    def __call__(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> int: ...


class _CreateImageOrInode:
    """``VolFs.create(path)`` makes a new image; ``fs.create(dir_ino, name, ...)`` on an instance is the
    Filesystem protocol's inode create. One name, two meanings, because both are public contracts."""

    @overload
    def __get__(self, obj: None, owner: type[VolFs]) -> _CreateImage: ...

    @overload
    def __get__(self, obj: VolFs, owner: type[VolFs]) -> _CreateInode: ...

    def __get__(self, obj: VolFs | None, owner: type[VolFs]) -> _CreateImage | _CreateInode:
        if obj is None:
            return owner.create_image
        return obj.create_inode


class VolFs:
    """A POSIX filesystem in one SQLite file (with SQLite's -wal/-shm beside it while in use, and our
    -holds, which stays: removing it could race with a process opening the image and locking it).
    ``VolFs.create(path)`` makes an image, ``VolFs.open(path, readonly=False)`` opens one; both raise
    ImageError with a message for the user."""

    fs_type = "volfs"
    magic = VOLFS_MAGIC
    root_ino = ROOT_INO
    create = _CreateImageOrInode()

    def __init__(self, path: str, db: sqlite3.Connection, readonly: bool, chunk_size: int) -> None:
        self.path = os.path.abspath(path)  # its -wal, -shm and -holds are found by name later, whatever the cwd
        self._engine: Engine | None = None
        self.readonly = readonly
        self._db = db
        # The hot path's statements run on this one cursor (Connection.execute makes a new cursor per call:
        # ~1.3 us of the ~3 us a one-row UPDATE costs). Only statements whose results are read at once.
        self._cur = db.cursor()
        self._store = sql.Store(db, chunk_size)
        self._depth = 0  # nesting of transaction() blocks
        self._begun = False  # BEGIN issued for the current outermost block
        self._txn = _Transaction(self)
        self._data_version = -1
        self._wal: sql.WalIndex | None = None  # for a cheap "did anyone commit?" check
        self._db_file: sql.KeptFile | None = None  # set by open/create_image once the image is ours
        self._shm_seen = b""
        self._checkpointer: sql.Checkpointer | None = None
        self._frame_bytes = 0
        self._attrs: dict[int, tuple[int, ...]] = {}  # ino -> row of store.GET_ATTR
        # Time-only setattrs of the open transaction, written just before its COMMIT: one UPDATE per inode
        # however often the VFS touched it, none for an inode freed meanwhile (unlink's ctime).
        self._times: dict[int, tuple[int, int, int]] = {}  # ino -> (atime, mtime, ctime)
        self._dentries: dict[tuple[int, bytes], int | None] = {}  # (dir, name) -> ino, None = negative
        # Directories whose every entry is in _dentries (made empty by this VolFs since the caches were
        # last dropped): a name missing there is missing, no SELECT (a create's negative lookup).
        self._complete: set[int] = set()
        self._refs: dict[int, int] = {}  # open_inode references held by this process
        self._orphans: set[int] = set()  # orphans this VolFs recorded while holding them
        try:
            self._holds: sql.InodeHolds | None = sql.InodeHolds(path, readonly)
        except OSError:
            self._holds = None
        self._start_time = process_start_time(os.getpid()) or 0

    # -- images -------------------------------------------------------------------------------------

    @classmethod
    def create_image(cls, path: str | os.PathLike[str], page_size: int = PAGE_SIZE) -> VolFs:
        """A new image at ``path`` (an error if anything exists there) holding an empty root directory."""
        path = os.fspath(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ImageError(f"{path}: already exists") from None
        except OSError as exc:
            raise ImageError(f"{path}: cannot create: {exc.strerror}") from None
        os.close(fd)  # a new file: nothing in this process holds a lock on it yet
        from sqlalchemy import insert

        from lxfs.volfs import schema

        kept = sql.KeptFile.acquire(path)
        try:
            db = sql.connect(path, readonly=False, page_size=page_size)
            engine = sql.engine_on(db)
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            now = time.time_ns()
            with engine.begin() as conn:  # commits the transaction begun above
                schema.metadata.create_all(conn)
                conn.execute(
                    insert(schema.meta),
                    [
                        {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                        {"key": "uuid", "value": str(uuid.uuid4())},
                        {"key": "chunk_size", "value": str(CHUNK_SIZE)},
                    ],
                )
                conn.execute(
                    insert(schema.inode),
                    {
                        "ino": ROOT_INO,
                        "mode": stat.S_IFDIR | 0o755,
                        "nlink": 2,
                        "uid": 0,
                        "gid": 0,
                        "rdev": 0,
                        "size": 0,
                        "blocks": 0,
                        "atime": now,
                        "mtime": now,
                        "ctime": now,
                        "generation": 0,
                        "parent": ROOT_INO,
                    },
                )
        except sqlite3.Error as exc:
            kept.release()
            os.unlink(path)
            raise ImageError(f"{path}: cannot create image: {exc}") from None
        fs = cls(path, db, False, CHUNK_SIZE)
        fs._engine = engine
        fs._db_file = kept
        fs._map_wal_index()
        fs._check_others()  # the caches' starting point, so that what follows survives the first call
        fs._complete.add(ROOT_INO)  # a new image's root is empty
        return fs

    @classmethod
    def open(cls, path: str | os.PathLike[str], readonly: bool = False) -> VolFs:
        """An existing image; raises ImageError (with a message for the user) if it cannot be used."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise ImageError(f"{path}: no such image")
        if not os.path.isfile(path):
            raise ImageError(f"{path}: not an image file")
        try:
            kept = sql.KeptFile.acquire(path)  # never a descriptor of our own to close (KeptFile says why)
        except OSError as exc:
            raise ImageError(f"{path}: cannot open: {exc.strerror}") from None
        try:
            fs = cls._open_image(path, readonly, kept)
        except BaseException:
            kept.release()
            raise
        fs._db_file = kept
        return fs

    @classmethod
    def _open_image(cls, path: str, readonly: bool, kept: sql.KeptFile) -> VolFs:
        header = os.pread(kept.fd, 100, 0)
        if len(header) == 0:
            raise ImageError(f"{path}: empty file, not an lxfs image")
        if not header.startswith(b"SQLite format 3\0"):
            raise ImageError(f"{path}: not an lxfs image (not an SQLite database)")
        immutable = _on_read_only_storage(path, readonly)
        try:
            if _application_id(path, header) != APPLICATION_ID:
                raise ImageError(f"{path}: an SQLite database, but not an lxfs image")
            db = sql.connect(path, readonly=readonly, immutable=immutable)
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ImageError(f"{path}: image is locked by another process") from None
            raise ImageError(f"{path}: damaged lxfs image ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise ImageError(f"{path}: damaged lxfs image ({exc})") from None
        version = int(rows.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            db.close()
            raise ImageError(
                f"{path}: image has schema version {version}, this lxfs reads up to {SCHEMA_VERSION}; "
                "upgrade lxfs to open it"
            )
        if version < 1:
            db.close()
            raise ImageError(f"{path}: damaged lxfs image (no schema version)")
        fs = cls(path, db, readonly, int(rows.get("chunk_size", CHUNK_SIZE)))
        try:
            fs._map_wal_index()
            if not readonly:
                fs.reap_orphans()
        except BaseException as exc:
            fs.close()
            if isinstance(exc, FsError):
                raise ImageError(f"{path}: {exc.strerror}") from None
            raise
        return fs

    def close(self) -> None:
        if self._begun:
            self._rollback()
        self._depth = 0
        self._begun = False
        if self._holds is not None:
            self._holds.close()  # drops this VolFs's holds
            self._holds = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        wal, self._wal = self._wal, None
        self._db.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        # Only now, with no SQLite connection of this VolFs left: the descriptors kept on the -shm and the
        # database (sql.KeptFile: closing them earlier would drop SQLite's locks).
        if wal is not None:
            wal.close()
        if self._db_file is not None:
            self._db_file.release()
            self._db_file = None

    @property
    def engine(self) -> Engine:
        """SQLAlchemy over this VolFs's connection, for the schema and the tools (made on first use)."""
        if self._engine is None:
            self._engine = sql.engine_on(self._db)
        return self._engine

    def __enter__(self) -> VolFs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reap_orphans(self) -> int:
        """Free orphans that no process holds open any more; returns how many inodes were freed."""
        freed = 0
        with self._txn:
            self._sync()
            for (ino,) in self._db.execute("SELECT DISTINCT ino FROM orphan").fetchall():
                freed += self._free_if_unreferenced(ino)
        return freed

    # -- transactions and caches --------------------------------------------------------------------

    def transaction(self) -> _Transaction:
        return self._txn

    def _sync(self) -> None:
        """Called before a method's first statement: inside a transaction block, begin it (and revalidate
        the caches against other processes' commits); outside, just revalidate."""
        if self._begun:
            return
        if self._depth:
            try:
                self._cur.execute("BEGIN" if self.readonly else "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _db_error(exc) from exc
            self._begun = True
        self._check_others()

    def _check_others(self) -> None:
        """Drop the caches if any other connection committed since the last look."""
        wal = self._wal
        if wal is not None:
            # Hot path: the WAL-index header (walformat.html 2.2.1) changes with every commit by anyone;
            # unchanged means the caches are current without running PRAGMA data_version (~7 us).
            # Read it before the PRAGMA so a commit landing in between is seen next time.
            head = wal.map[:_SHM_HEADER]
            if head == self._shm_seen:
                return
            self._shm_seen = head
        self._revalidate_now()

    def _flush_times(self) -> None:
        times = self._times
        if len(times) == 1:  # the usual case (a create's or unlink's directory): execute is cheaper
            ((ino, (atime, mtime, ctime)),) = times.items()
            self._cur.execute(sql.SET_TIMES, (atime, mtime, ctime, ino))
        else:
            self._db.executemany(sql.SET_TIMES, [(*t, ino) for ino, t in times.items()])
        times.clear()

    def _after_commit(self, wal: sql.WalIndex, before: bytes) -> None:
        """``before``: the WAL-index change counter (its 4 bytes) just before the COMMIT, read under the
        write lock. Hot path: one copy of the header gives the counter and the frame count."""
        head = wal.map[:_SHM_HEADER]
        change, max_frame = _HEAD_FIELDS.unpack_from(head)
        # Exactly our commit since the caches were last revalidated (at BEGIN, under the same lock): they
        # are current, no PRAGMA data_version at the next call. Any other commit (or a WAL restart) adds
        # more, and the next call revalidates.
        if self._shm_seen[8:12] == before and change == (int.from_bytes(before, sys.byteorder) + 1) & 0xFFFFFFFF:
            self._shm_seen = head
        if self._checkpointer is None:
            return
        (backfilled,) = _U32.unpack_from(wal.map, sql.WalIndex.BACKFILL)
        if backfilled > max_frame:
            backfilled = max_frame
        pending = (max_frame - backfilled) * self._frame_bytes
        if pending >= sql.CHECKPOINT_NOW:
            # The checkpointer cannot keep up: this writer pays (backpressure bounds the WAL).
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        elif pending >= sql.CHECKPOINT_AFTER:
            self._checkpointer.kick()
        elif backfilled and pending <= sql.RECYCLE_TAIL and max_frame * self._frame_bytes >= sql.RECYCLE_AT:
            # The checkpointer copied the bulk; copying the rest here lets the next commit restart the
            # WAL from its first frame, so a busy image's WAL stays near RECYCLE_AT and is rewritten in
            # place (measured: see bench/RESULTS.md).
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                pass  # another checkpointer is at work: a later commit tries again

    def _revalidate_now(self) -> None:
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            self._data_version = version
            self._attrs.clear()
            self._dentries.clear()
            self._complete.clear()
            self._store.drop_cache()

    def _map_wal_index(self) -> None:
        try:
            self._wal = sql.WalIndex(self.path)
        except (OSError, ValueError):
            self._wal = None  # caches then revalidate with PRAGMA data_version every time
        if not self.readonly:
            (page_size,) = self._db.execute("PRAGMA page_size").fetchone()
            self._checkpointer = sql.Checkpointer(self.path, page_size)
            self._frame_bytes = page_size + 24

    def _rollback(self) -> None:
        self._begun = False
        self._times.clear()
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL)
        self._attrs.clear()
        self._dentries.clear()
        self._complete.clear()
        self._store.drop_cache()

    def _writable(self) -> None:
        if self.readonly:
            raise FsError(errno.EROFS)

    # -- attributes ---------------------------------------------------------------------------------

    def _attr_row(self, ino: int) -> tuple[int, ...]:
        if not self._begun:
            self._sync()
        row = self._attrs.get(ino)
        if row is None:
            row = self._cur.execute(sql.GET_ATTR, (ino,)).fetchone()
            if row is None:
                raise FsError(errno.ENOENT)
            if self._times and ino in self._times:
                row = (*row[:7], *self._times[ino])  # times set earlier in this transaction
            if len(self._attrs) >= CACHE_LIMIT:
                self._attrs.clear()
            self._attrs[ino] = row
        return row

    def getattr(self, ino: int) -> Attr:
        try:  # the hot path: _reads inlined (a try costs nothing in Python 3.11, a wrapper call does)
            wal = self._wal
            if self._begun or (not self._depth and wal is not None and wal.map[:_SHM_HEADER] == self._shm_seen):
                row = self._attrs.get(ino) or self._attr_row(ino)  # current caches: no _sync() call
            else:
                row = self._attr_row(ino)
            mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime = row
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc
        return Attr(ino, mode, nlink, uid, gid, rdev, size, atime, mtime, ctime, blocks)

    def setattr(self, ino: int, changes: SetAttr) -> None:
        for t in (changes.atime_ns, changes.mtime_ns, changes.ctime_ns):
            if t is not None and not _TIME_MIN_NS < t < _TIME_MAX_NS:
                changes = _time_truncated(changes)
                break
        if changes.mode is None and changes.uid is None and changes.gid is None and changes.size is None:
            self._set_times(ino, changes.atime_ns, changes.mtime_ns, changes.ctime_ns)
            return
        self._writable()
        with self._txn:
            self._sync()
            old = self._attr_row(ino)  # mode nlink uid gid rdev size blocks atime mtime ctime
            mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime = old
            if changes.mode is not None:
                mode = stat.S_IFMT(mode) | (changes.mode & 0o7777)
            if changes.uid is not None:
                uid = changes.uid
            if changes.gid is not None:
                gid = changes.gid
            if changes.atime_ns is not None:
                atime = changes.atime_ns
            if changes.mtime_ns is not None:
                mtime = changes.mtime_ns
            if changes.ctime_ns is not None:
                ctime = changes.ctime_ns
            if changes.size is not None and changes.size != size:
                if not stat.S_ISREG(mode):
                    raise FsError(errno.EINVAL)
                if changes.size < size:
                    blocks = self._store.truncate(ino, changes.size)
                size = changes.size
            row = (mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime)
            if row != old:
                # One statement for every combination (the cached row is current inside the transaction).
                self._times.pop(ino, None)
                self._cur.execute(sql.SET_ATTR, (mode, uid, gid, size, blocks, atime, mtime, ctime, ino))
                self._attrs[ino] = row  # write-through: the VFS stats right after

    def _set_times(self, ino: int, atime: int | None, mtime: int | None, ctime: int | None) -> None:
        """The hot setattr (the VFS's mtime/ctime updates of every create and unlink): times only,
        written once before COMMIT (_flush_times), none for an inode the transaction frees."""
        if self.readonly:
            raise FsError(errno.EROFS)
        if not self._begun:
            if not self._depth:  # outside any block: one of its own, committed here
                with self._txn:
                    self._sync()
                    self._set_times(ino, atime, mtime, ctime)
                return
            self._sync()  # begins the caller's block (an error below rolls it back)
        old = self._attrs.get(ino) or self._attr_row(ino)  # mode nlink uid gid rdev size blocks atime mtime ctime
        times = (
            old[7] if atime is None else atime,
            old[8] if mtime is None else mtime,
            old[9] if ctime is None else ctime,
        )
        if times != old[7:]:
            self._times[ino] = times
            self._attrs[ino] = (*old[:7], *times)  # write-through: the VFS stats right after

    # -- names --------------------------------------------------------------------------------------

    def lookup(self, dir_ino: int, name: bytes) -> int | None:
        try:  # _reads inlined, as in getattr
            if not self._begun:
                wal = self._wal
                if self._depth or wal is None or wal.map[:_SHM_HEADER] != self._shm_seen:  # _check_others' test
                    self._sync()
            key = (dir_ino, name)
            try:
                return self._dentries[key]
            except KeyError:
                if dir_ino in self._complete and name != b"..":
                    return None
            if name == b"..":
                row = self._cur.execute(sql.PARENT_OF, (dir_ino,)).fetchone()
            else:
                row = self._cur.execute(sql.LOOKUP, (dir_ino, name_hash(name), name)).fetchone()
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc
        ino = row[0] if row is not None else None
        if len(self._dentries) >= CACHE_LIMIT:
            self._dentries.clear()
            self._complete.clear()
        self._dentries[key] = ino
        return ino

    def _lookup_existing(self, dir_ino: int, name: bytes) -> int:
        ino = self.lookup(dir_ino, name)
        if ino is None:
            raise FsError(errno.ENOENT)
        return ino

    def readdir(self, dir_ino: int, offset: int) -> Iterator[DirEntry]:
        if offset < 1:
            yield DirEntry(b".", dir_ino, stat.S_IFDIR >> 12, 1)
        if offset < 2:
            parent = self.lookup(dir_ino, b"..") or dir_ino
            yield DirEntry(b"..", parent, stat.S_IFDIR >> 12, 2)
        after = max(offset, 2)
        while True:
            self._sync()
            try:
                rows = self._db.execute(sql.READDIR, (dir_ino, after, READDIR_BATCH)).fetchall()
            except sqlite3.Error as exc:
                raise _db_error(exc) from exc
            for cookie, name, ino, dtype in rows:
                yield DirEntry(name, ino, dtype, cookie)
            if len(rows) < READDIR_BATCH:
                return
            after = rows[-1][0]

    @_reads
    def find_name(self, dir_ino: int, ino: int) -> bytes | None:
        self._sync()
        row = self._db.execute(sql.FIND_NAME, (dir_ino, ino)).fetchone()
        return row[0] if row is not None else None

    def _new_inode(self, mode: int, nlink: int, uid: int, gid: int, rdev: int, size: int, now_ns: int,
                   target: bytes | None, parent: int | None) -> int:  # fmt: skip
        cur = self._cur.execute(
            sql.INSERT_INODE,
            (mode, nlink, uid, gid, rdev, size, now_ns, now_ns, now_ns, random.getrandbits(31), target, parent),
        )
        ino = cur.lastrowid
        assert ino is not None
        # Write-through: the VFS stats a new inode right away.
        self._attrs[ino] = (mode, nlink, uid, gid, rdev, size, 0, now_ns, now_ns, now_ns)
        return ino

    def _add_dentry(self, dir_ino: int, name: bytes, ino: int, mode: int) -> None:
        if not name or b"/" in name or b"\0" in name or name in (b".", b".."):
            raise FsError(errno.EINVAL)  # the VFS never passes these; a name must stay a name
        try:
            self._cur.execute(sql.INSERT_DENTRY, (dir_ino, name_hash(name), name, ino, stat.S_IFMT(mode) >> 12))
        except sqlite3.IntegrityError:
            raise FsError(errno.EEXIST) from None
        self._dentries[(dir_ino, name)] = ino

    def _add_nlink(self, ino: int, delta: int) -> int:
        found = self._cur.execute(sql.ADD_NLINK, (delta, ino)).fetchone()
        if found is None:
            raise FsError(errno.ENOENT)
        nlink = int(found[0])
        row = self._attrs.get(ino)
        if row is not None:
            self._attrs[ino] = (row[0], nlink, *row[2:])
        return nlink

    def create_inode(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> int:
        """The Filesystem protocol's ``create`` (``fs.create(...)`` on an instance lands here)."""
        self._writable()
        with self._txn:
            if not self._begun:
                self._sync()
            ino = self._new_inode(mode, 1, uid, gid, rdev, 0, now_ns, None, None)
            self._add_dentry(dir_ino, name, ino, mode)
        return ino

    def mkdir(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, now_ns: int) -> int:
        self._writable()
        with self._txn:
            self._sync()
            mode = stat.S_IFDIR | (mode & 0o7777)
            ino = self._new_inode(mode, 2, uid, gid, 0, 0, now_ns, None, dir_ino)
            self._add_dentry(dir_ino, name, ino, mode)
            self._add_nlink(dir_ino, 1)
            self._dentries[(ino, b"..")] = dir_ino
            self._complete.add(ino)  # empty, all of it known
        return ino

    def symlink(self, dir_ino: int, name: bytes, target: bytes, uid: int, gid: int, now_ns: int) -> int:
        self._writable()
        with self._txn:
            self._sync()
            mode = stat.S_IFLNK | 0o777
            ino = self._new_inode(mode, 1, uid, gid, 0, len(target), now_ns, bytes(target), None)
            self._add_dentry(dir_ino, name, ino, mode)
        return ino

    def link(self, ino: int, dir_ino: int, name: bytes) -> None:
        self._writable()
        with self._txn:
            self._sync()
            self._add_dentry(dir_ino, name, ino, self._attr_row(ino)[0])
            if self._add_nlink(ino, 1) == 1:
                # linkat(AT_EMPTY_PATH) of an O_TMPFILE file: a named inode is no orphan.
                self._db.execute("DELETE FROM orphan WHERE ino = ?", (ino,))
                self._orphans.discard(ino)

    def _remove_dentry(self, dir_ino: int, name: bytes) -> None:
        self._cur.execute(sql.DELETE_DENTRY, (dir_ino, name_hash(name), name))
        self._dentries[(dir_ino, name)] = None

    def unlink(self, dir_ino: int, name: bytes) -> None:
        self._writable()
        with self._txn:
            if not self._begun:
                self._sync()
            ino = self._lookup_existing(dir_ino, name)
            self._remove_dentry(dir_ino, name)
            if self._attr_row(ino)[1] <= 1 and not self.held(ino):
                self._free(ino)  # the last name of a closed file: no nlink update to throw away
            elif self._add_nlink(ino, -1) <= 0:
                self._nlink_zero(ino)

    def rmdir(self, dir_ino: int, name: bytes) -> None:
        self._writable()
        with self._txn:
            self._sync()
            ino = self._lookup_existing(dir_ino, name)
            self._remove_directory(dir_ino, name, ino)

    def _remove_directory(self, dir_ino: int, name: bytes, ino: int) -> None:
        self._remove_dentry(dir_ino, name)
        self._add_nlink(dir_ino, -1)
        # An open removed directory keeps no parent: '..' of a dead directory is gone.
        self._db.execute("UPDATE inode SET nlink = 0, parent = NULL WHERE ino = ?", (ino,))
        self._dentries[(ino, b"..")] = None
        self._complete.discard(ino)
        self._attrs.pop(ino, None)
        self._nlink_zero(ino)

    def _set_parent(self, dir_ino: int, parent: int) -> None:
        self._db.execute(sql.SET_PARENT, (parent, dir_ino))
        self._dentries[(dir_ino, b"..")] = parent

    def rename(self, old_dir: int, old_name: bytes, new_dir: int, new_name: bytes, flags: int) -> None:
        self._writable()
        if flags & RENAME_WHITEOUT:
            raise FsError(errno.EINVAL)  # no whiteouts: VolFs is not an overlay upper layer
        with self._txn:
            self._sync()
            src = self._lookup_existing(old_dir, old_name)
            src_mode = self._attr_row(src)[0]
            src_is_dir = stat.S_ISDIR(src_mode)
            dst = self.lookup(new_dir, new_name)
            old_hash, new_hash = name_hash(old_name), name_hash(new_name)
            if flags & RENAME_EXCHANGE:
                if dst is None:
                    raise FsError(errno.ENOENT)
                dst_mode = self._attr_row(dst)[0]
                dst_is_dir = stat.S_ISDIR(dst_mode)
                db = self._db
                db.execute(sql.RETARGET_DENTRY, (dst, stat.S_IFMT(dst_mode) >> 12, old_dir, old_hash, old_name))
                db.execute(sql.RETARGET_DENTRY, (src, stat.S_IFMT(src_mode) >> 12, new_dir, new_hash, new_name))
                self._dentries[(old_dir, old_name)] = dst
                self._dentries[(new_dir, new_name)] = src
                if old_dir != new_dir:
                    if src_is_dir:
                        self._set_parent(src, new_dir)
                    if dst_is_dir:
                        self._set_parent(dst, old_dir)
                    if src_is_dir != dst_is_dir:
                        # The directory among the two changes parent: move its '..' link.
                        moved_to, moved_from = (new_dir, old_dir) if src_is_dir else (old_dir, new_dir)
                        self._add_nlink(moved_to, 1)
                        self._add_nlink(moved_from, -1)
                return
            if dst == src:
                return  # rename(2): two links to one inode -- nothing happens
            if dst is not None:
                if stat.S_ISDIR(self._attr_row(dst)[0]):
                    self._remove_directory(new_dir, new_name, dst)
                else:
                    self._remove_dentry(new_dir, new_name)
                    if self._add_nlink(dst, -1) <= 0:
                        self._nlink_zero(dst)
            self._db.execute(sql.MOVE_DENTRY, (new_dir, new_hash, new_name, old_dir, old_hash, old_name))
            self._dentries[(old_dir, old_name)] = None
            self._dentries[(new_dir, new_name)] = src
            if src_is_dir and old_dir != new_dir:
                self._set_parent(src, new_dir)
                self._add_nlink(new_dir, 1)
                self._add_nlink(old_dir, -1)

    @_reads
    def readlink(self, ino: int) -> bytes:
        self._sync()
        row = self._db.execute(sql.READLINK, (ino,)).fetchone()
        if row is None:
            raise FsError(errno.ENOENT)
        if row[0] is None:
            raise FsError(errno.EINVAL)
        return bytes(row[0])

    # -- data ---------------------------------------------------------------------------------------

    @_reads
    def read(self, ino: int, offset: int, size: int) -> bytes:
        file_size = self._attr_row(ino)[5]
        return self._store.read(ino, file_size, offset, size)

    def write(self, ino: int, offset: int, data: bytes) -> None:
        self._writable()
        if not data:
            return
        with self._txn:
            self._sync()
            delta = self._store.write(ino, offset, data)
            end = offset + len(data)
            self._cur.execute(sql.SET_GROWN_SIZE, (end, delta, ino))
            row = self._attrs.get(ino)
            if row is not None:  # write-through: the VFS's setattr of the times follows
                self._attrs[ino] = (*row[:5], max(row[5], end), row[6] + delta, *row[7:])

    @_reads
    def seek_data(self, ino: int, offset: int, whence: int) -> int:
        """lseek(2) SEEK_DATA/SEEK_HOLE at chunk granularity (optional beyond the protocol; the VFS
        checked 0 <= offset < size and clips the result at the size). A missing chunk is a hole."""
        self._sync()
        csize = self._store.chunk_size
        idx = offset // csize
        if whence == os.SEEK_DATA:
            (found,) = self._db.execute(sql.NEXT_CHUNK, (ino, idx)).fetchone()
            if found is None:
                raise FsError(errno.ENXIO)
            return offset if found == idx else int(found) * csize
        for (present,) in self._db.execute(sql.CHUNKS_FROM, (ino, idx)):
            if present != idx:
                break
            idx += 1
        return max(offset, idx * csize)

    def fsync(self, ino: int, datasync: bool) -> None:
        self.sync()

    def sync(self) -> None:
        """Make every committed transaction survive power loss: fsync the WAL (synchronous=NORMAL
        commits write it without syncing)."""
        if self.readonly:
            return
        try:
            fd = os.open(self.path + "-wal", os.O_RDONLY)
        except FileNotFoundError:
            self._db.execute("PRAGMA wal_checkpoint(FULL)")
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- extended attributes ------------------------------------------------------------------------

    @_reads
    def getxattr(self, ino: int, name: bytes) -> bytes:
        self._sync()
        row = self._db.execute("SELECT value FROM xattr WHERE ino = ? AND name = ?", (ino, name)).fetchone()
        if row is None:
            raise FsError(errno.ENODATA)
        return bytes(row[0])

    def setxattr(self, ino: int, name: bytes, value: bytes, flags: int) -> None:
        self._writable()
        with self._txn:
            self._sync()
            exists = self._db.execute("SELECT 1 FROM xattr WHERE ino = ? AND name = ?", (ino, name)).fetchone()
            if exists and flags & XATTR_CREATE:
                raise FsError(errno.EEXIST)
            if not exists and flags & XATTR_REPLACE:
                raise FsError(errno.ENODATA)
            if exists:
                self._db.execute("UPDATE xattr SET value = ? WHERE ino = ? AND name = ?", (value, ino, name))
            else:
                self._db.execute("INSERT INTO xattr (ino, name, value) VALUES (?, ?, ?)", (ino, name, value))

    @_reads
    def listxattr(self, ino: int) -> list[bytes]:
        self._sync()
        rows = self._db.execute("SELECT name FROM xattr WHERE ino = ? ORDER BY rowid", (ino,)).fetchall()
        return [bytes(name) for (name,) in rows]

    def removexattr(self, ino: int, name: bytes) -> None:
        self._writable()
        with self._txn:
            self._sync()
            cur = self._db.execute("DELETE FROM xattr WHERE ino = ? AND name = ?", (ino, name))
            if cur.rowcount == 0:
                raise FsError(errno.ENODATA)

    # -- the filesystem -----------------------------------------------------------------------------

    @_reads
    def statfs(self) -> StatFs:
        self._sync()
        bsize = 4096
        (page_size,) = self._db.execute("PRAGMA page_size").fetchone()
        (pages,) = self._db.execute("PRAGMA page_count").fetchone()
        (free_pages,) = self._db.execute("PRAGMA freelist_count").fetchone()
        (inodes,) = self._db.execute("SELECT count(*) FROM inode").fetchone()
        host = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        free_in_image = free_pages * page_size
        bfree = (free_in_image + host.f_bfree * host.f_frsize) // bsize
        bavail = (free_in_image + host.f_bavail * host.f_frsize) // bsize
        blocks = max((pages * page_size + host.f_bfree * host.f_frsize) // bsize, bfree)
        ffree = host.f_favail if host.f_favail > 0 else bavail
        return StatFs(
            f_type=VOLFS_MAGIC,
            f_bsize=bsize,
            f_blocks=blocks,
            f_bfree=bfree,
            f_bavail=bavail,
            f_files=inodes + ffree,
            f_ffree=ffree,
            f_namelen=255,
            f_frsize=bsize,
            f_flags=1 if self.readonly else 0,  # ST_RDONLY
        )

    # -- open files and orphans ---------------------------------------------------------------------

    def open_inode(self, ino: int) -> None:
        count = self._refs.get(ino, 0)
        self._refs[ino] = count + 1
        if not count and self._holds is not None:
            self._holds.hold(ino)

    def release_inode(self, ino: int) -> None:
        count = self._refs.get(ino, 0) - 1
        if count > 0:
            self._refs[ino] = count
            return
        self._refs.pop(ino, None)
        if self._holds is not None:
            self._holds.release(ino)
        if self.readonly:
            return
        if ino not in self._orphans:
            # Another process may have unlinked it while we held it: look (the cache, else one read,
            # without taking the write lock) before starting a transaction. Close must stay cheap.
            self._check_others()
            row = self._attrs.get(ino)
            if row is None:
                try:
                    row = self._cur.execute(sql.GET_ATTR, (ino,)).fetchone()
                except sqlite3.Error as exc:
                    raise _db_error(exc) from exc
            if row is None or row[1] > 0:
                return
        with self._txn:
            self._sync()
            self._orphans.discard(ino)
            self._free_if_unreferenced(ino)

    def held(self, ino: int) -> bool:
        """Whether ``ino`` is open in this VolFs or, through the holds file, anywhere else."""
        if self._refs.get(ino):
            return True
        return self._holds is not None and self._holds.held_elsewhere(ino)

    def _nlink_zero(self, ino: int) -> None:
        """``ino`` lost its last name: free it now, or keep it as an orphan while anyone has it open."""
        if self.held(ino):
            self._db.execute(
                "INSERT OR IGNORE INTO orphan (ino, pid, start_time) VALUES (?, ?, ?)",
                (ino, os.getpid(), self._start_time),
            )
            if self._refs.get(ino):
                self._orphans.add(ino)
        else:
            self._free(ino)

    def _free_if_unreferenced(self, ino: int) -> int:
        """Free orphan ``ino`` unless it still has a name or a holder; returns 1 if freed."""
        row = self._db.execute("SELECT nlink FROM inode WHERE ino = ?", (ino,)).fetchone()
        if row is None:
            self._db.execute("DELETE FROM orphan WHERE ino = ?", (ino,))
            return 0
        if row[0] > 0:
            self._db.execute("DELETE FROM orphan WHERE ino = ?", (ino,))  # named again (linkat)
            return 0
        if self.held(ino):
            return 0
        if self._holds is None:
            # No holds file (read-only directory): trust the recorded holders' liveness instead.
            me = os.getpid()
            for pid, start_time in self._db.execute("SELECT pid, start_time FROM orphan WHERE ino = ?", (ino,)):
                if pid != me and holder_alive(pid, start_time):
                    return 0
        self._free(ino)
        return 1

    def _free(self, ino: int) -> None:
        self._cur.execute(sql.FREE_INODE, (ino,))
        self._times.pop(ino, None)
        self._complete.discard(ino)
        self._store.drop_cache(ino)
        self._attrs.pop(ino, None)
        self._dentries.pop((ino, b".."), None)

    def open_file(self, ino: int, flags: int) -> FileOps | None:
        return None
