"""The VolFs hot path: the SQLite connection (WAL, page size, busy timeout, mmap), prepared SQL for
inodes, dentries and chunked file data run on the DBAPI connection that SQLAlchemy's engine hands out,
and what sits beside the database: the WAL-index view, the background checkpointer, the holds file.

Written for speed on purpose: SQL strings are constants (sqlite3 caches their prepared statements),
methods bind locals, and data moves through memoryviews. Callers hold the transaction.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import sqlite3
import struct
import threading
from typing import TYPE_CHECKING

from lxfs.volfs.layout import PAGE_SIZE

if TYPE_CHECKING:
    from sqlalchemy import Engine

BUSY_TIMEOUT_S = 5.0
MMAP_SIZE = 1 << 30
CHECKPOINT_AFTER = 16 * 1024 * 1024  # WAL bytes not yet copied into the database
CHECKPOINT_NOW = 256 * 1024 * 1024  # ... beyond this the committing call checkpoints itself
# A WAL this long whose checkpointed part leaves at most RECYCLE_TAIL bytes behind: the committing call
# copies that tail itself, so the next transaction starts the WAL over at its beginning. Without this a
# busy writer never lets the background checkpoint finish the WAL (SQLite restarts it only when every
# frame is in the database), so the WAL grew to CHECKPOINT_NOW (256 MiB of new file blocks for every
# commit to extend into) and its writer then paid for the whole checkpoint.
RECYCLE_AT = CHECKPOINT_AFTER
RECYCLE_TAIL = 4 * 1024 * 1024
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # the WAL file is cut back to this after a reset
BLOCK = 4096  # allocation unit that st_blocks counts in (as 512-byte sectors)

ATTR_COLUMNS = "mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime"
GET_ATTR = f"SELECT {ATTR_COLUMNS} FROM inode WHERE ino = ?"
LOOKUP = "SELECT ino FROM dentry WHERE parent = ? AND hash = ? AND name = ?"
PARENT_OF = "SELECT parent FROM inode WHERE ino = ?"
FIND_NAME = "SELECT name FROM dentry WHERE parent = ? AND ino = ? LIMIT 1"  # scans the directory
READDIR = "SELECT hash, name, ino, type FROM dentry WHERE parent = ? AND hash > ? ORDER BY hash LIMIT ?"
INSERT_INODE = (
    "INSERT INTO inode (mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime, generation, target, parent) "
    "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)"
)
INSERT_DENTRY = "INSERT INTO dentry (parent, hash, name, ino, type) VALUES (?, ?, ?, ?, ?)"
DELETE_DENTRY = "DELETE FROM dentry WHERE parent = ? AND hash = ? AND name = ?"
MOVE_DENTRY = "UPDATE dentry SET parent = ?, hash = ?, name = ? WHERE parent = ? AND hash = ? AND name = ?"
RETARGET_DENTRY = "UPDATE dentry SET ino = ?, type = ? WHERE parent = ? AND hash = ? AND name = ?"
SET_PARENT = "UPDATE inode SET parent = ? WHERE ino = ?"
ADD_NLINK = "UPDATE inode SET nlink = nlink + ? WHERE ino = ? RETURNING nlink"
SET_ATTR = (
    "UPDATE inode SET mode = ?, uid = ?, gid = ?, size = ?, blocks = ?, atime = ?, mtime = ?, ctime = ? WHERE ino = ?"
)
SET_TIMES = "UPDATE inode SET atime = ?, mtime = ?, ctime = ? WHERE ino = ?"
SET_GROWN_SIZE = "UPDATE inode SET size = max(size, ?), blocks = blocks + ? WHERE ino = ?"
READLINK = "SELECT target FROM inode WHERE ino = ?"

CHUNK_LENGTHS = "SELECT idx, rowid, length(data) FROM chunk WHERE ino = ? AND idx BETWEEN ? AND ?"
CHUNK_DATA = "SELECT data FROM chunk WHERE rowid = ?"
CHUNK_ROWID = "SELECT rowid, length(data) FROM chunk WHERE ino = ? AND idx = ?"
NEXT_CHUNK = "SELECT min(idx) FROM chunk WHERE ino = ? AND idx >= ?"
CHUNKS_FROM = "SELECT idx FROM chunk WHERE ino = ? AND idx >= ? ORDER BY idx"
CHUNK_ONE = "SELECT data FROM chunk WHERE ino = ? AND idx = ?"
CHUNK_RANGE = "SELECT idx, data FROM chunk WHERE ino = ? AND idx BETWEEN ? AND ? ORDER BY idx"
UPSERT_CHUNK = (
    "INSERT INTO chunk (ino, idx, data) VALUES (?, ?, ?) ON CONFLICT (ino, idx) DO UPDATE SET data = excluded.data"
)
DROP_CHUNKS_FROM = "DELETE FROM chunk WHERE ino = ? AND idx >= ?"
TRIM_CHUNK = "UPDATE chunk SET data = substr(data, 1, ?) WHERE ino = ? AND idx = ? AND length(data) > ?"
SUM_BLOCKS = (
    f"SELECT coalesce(sum((length(data) + {BLOCK - 1}) / {BLOCK}), 0) * {BLOCK // 512} FROM chunk WHERE ino = ?"
)

FREE_INODE = "DELETE FROM inode WHERE ino = ?"  # the inode_freed trigger frees its chunks, xattrs, orphan rows


def sectors(nbytes: int) -> int:
    """st_blocks for ``nbytes`` stored in one chunk: whole 4 KiB blocks, in 512-byte units."""
    return (nbytes + BLOCK - 1) // BLOCK * (BLOCK // 512)


def connect(path: str, readonly: bool, page_size: int = PAGE_SIZE, immutable: bool = False) -> sqlite3.Connection:
    """The one DBAPI connection of a VolFs on ``path``, in autocommit mode (VolFs issues BEGIN/COMMIT).
    ``immutable``: read-only, and nothing can change the file (it is on read-only storage): SQLite then
    takes no locks and needs no -shm. Raises sqlite3.Error for the caller to explain."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}?mode=rw"
    if immutable:
        uri += "&immutable=1"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    try:
        cur = db.cursor()
        if not readonly:
            # page_size only takes effect on an empty database (before WAL mode fixes the layout).
            cur.execute(f"PRAGMA page_size = {int(page_size)}")
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA cache_size = -65536")  # KiB: 64 MiB of page cache
        # Read the database file through mmap (no pread + copy per page): measured on 16 KiB pages,
        # 256 MiB of chunks, sequential reads 204-208 -> 681-869 MB/s, random 4 KiB 230-390 -> 140-200 us.
        cur.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
        # Checkpoints run on the Checkpointer thread, not inside a syscall's commit (see there).
        cur.execute("PRAGMA wal_autocheckpoint = 0")
        cur.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.execute("PRAGMA secure_delete = FAST")
        cur.close()
    except sqlite3.Error:
        db.close()
        raise
    return db


def engine_on(db: sqlite3.Connection) -> Engine:
    """A SQLAlchemy engine over a VolFs's own connection, for the schema and the tools (create, fsck,
    info): their statements see the filesystem's open transaction. SQLAlchemy is imported only here, so
    opening an image for `lxfs run` or `lxfs mount` does not pay for it (~0.2 s)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    engine = create_engine(
        "sqlite+pysqlite://",
        creator=lambda: db,
        poolclass=StaticPool,
        pool_reset_on_return=None,  # never roll back the filesystem's transaction behind its back
    )
    # SQLAlchemy rolls a new connection back after its first-connect initialisation, which would end a
    # transaction the VolFs has open on this connection (an engine is made on first use, maybe inside one):
    # connect now, with that rollback turned off.
    dialect = engine.dialect
    rollback = dialect.do_rollback
    dialect.do_rollback = lambda dbapi_connection: None  # type: ignore[method-assign]
    try:
        engine.connect().close()
    finally:
        dialect.do_rollback = rollback  # type: ignore[method-assign]
    return engine


class Store:
    """Chunked file data of one image; ``chunk_size`` is the image's (from its meta table)."""

    def __init__(self, db: sqlite3.Connection, chunk_size: int) -> None:
        self.db = db
        self.chunk_size = chunk_size
        # The last chunk fetched whole, as (ino, idx, data): reads smaller than a chunk that follow each
        # other are served from it. Dropped by any write or truncate of that inode and by the owner
        # whenever its caches go (another connection committed, a rollback, the inode was freed).
        self._chunk: tuple[int, int, bytes] | None = None
        self._next_read = -1  # offset after the last read: tells a sequential reader

    def drop_cache(self, ino: int | None = None) -> None:
        if ino is None or (self._chunk is not None and self._chunk[0] == ino):
            self._chunk = None

    def read(self, ino: int, file_size: int, offset: int, size: int) -> bytes:
        """Bytes [offset, offset+size) clipped at ``file_size``; holes and short chunks read as zeros."""
        end = min(offset + size, file_size)
        if offset >= end:
            return b""
        csize = self.chunk_size
        first = offset // csize
        last = (end - 1) // csize
        if first == last:
            start = offset - first * csize
            stop = end - first * csize
            cached = self._chunk
            if cached is not None and cached[0] == ino and cached[1] == first:
                piece = cached[2][start:stop]  # small sequential reads: one fetch per chunk
            elif stop - start > csize // 4 or offset == self._next_read:
                row = self.db.execute(CHUNK_ONE, (ino, first)).fetchone()
                data = row[0] if row is not None else b""
                self._chunk = (ino, first, data)
                piece = data[start:stop]
            else:
                # A small random read: incremental blob I/O reads only the pages it covers (measured
                # 30 us against 50 us for fetching the whole 128 KiB chunk).
                found = self.db.execute(CHUNK_ROWID, (ino, first)).fetchone()
                if found is None or start >= found[1]:
                    piece = b""
                else:
                    with self.db.blobopen("chunk", "data", found[0], readonly=True) as blob:
                        blob.seek(start)
                        piece = blob.read(stop - start)
            self._next_read = end
            if len(piece) < stop - start:
                piece += bytes(stop - start - len(piece))
            return piece
        parts: list[bytes] = []
        pos = offset  # next byte to produce
        for idx, data in self.db.execute(CHUNK_RANGE, (ino, first, last)):
            base = idx * csize
            if base > pos:
                parts.append(bytes(base - pos))  # a hole
                pos = base
            stop = min(end, base + csize)
            piece = data[pos - base : stop - base]
            parts.append(piece)
            pos += len(piece)
            if pos < stop:
                parts.append(bytes(stop - pos))  # a short chunk
                pos = stop
        if pos < end:
            parts.append(bytes(end - pos))
        return b"".join(parts)

    def write(self, ino: int, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Store ``data`` at ``offset`` touching only the chunks it covers; returns the st_blocks delta.

        Bytes inside an existing chunk are patched in place with incremental blob I/O (only the pages
        they fall on are rewritten); everything else is one upsert per chunk.
        """
        n = len(data)
        if n == 0:
            return 0
        self.drop_cache(ino)
        db = self.db
        csize = self.chunk_size
        end = offset + n
        first = offset // csize
        last = (end - 1) // csize
        existing = {idx: (rowid, length) for idx, rowid, length in db.execute(CHUNK_LENGTHS, (ino, first, last))}
        view = memoryview(data)
        rows = []
        delta = 0
        for idx in range(first, last + 1):
            base = idx * csize
            start = offset - base if idx == first else 0
            stop = end - base if idx == last else csize
            piece = view[base + start - offset : base + stop - offset]
            old = existing.get(idx)
            if old is None:
                rows.append((ino, idx, bytes(start) + piece if start else piece))
                delta += sectors(stop)
                continue
            rowid, old_len = old
            if stop <= old_len:
                with db.blobopen("chunk", "data", rowid) as blob:
                    blob.seek(start)
                    blob.write(piece)
                continue
            delta += sectors(stop) - sectors(old_len)
            if start == 0:
                rows.append((ino, idx, piece))
                continue
            (old_data,) = db.execute(CHUNK_DATA, (rowid,)).fetchone()
            if start <= old_len:
                rows.append((ino, idx, old_data[:start] + piece))
            else:
                rows.append((ino, idx, old_data + bytes(start - old_len) + piece))
        if rows:
            db.executemany(UPSERT_CHUNK, rows)
        return delta

    def truncate(self, ino: int, new_size: int) -> int:
        """Drop chunks past ``new_size`` and trim the one it ends in; returns the new st_blocks."""
        self.drop_cache(ino)
        db = self.db
        csize = self.chunk_size
        keep = -(-new_size // csize)  # chunks [0, keep) may hold data
        db.execute(DROP_CHUNKS_FROM, (ino, keep))
        tail = new_size % csize
        if tail:
            db.execute(TRIM_CHUNK, (tail, ino, keep - 1, tail))
        (blocks,) = db.execute(SUM_BLOCKS, (ino,)).fetchone()
        return int(blocks)


class KeptFile:
    """A descriptor on one of an open image's files (the database, its -shm) that this process keeps while
    any VolFs here has the image open, shared by all of them. POSIX advisory locks belong to a process and
    a file, not to a descriptor: closing ANY descriptor of a file drops every lock the process holds on
    it, SQLite's included (sqlite.org/howtocorrupt.html, 2.2). Opening the -shm to map it and closing
    that descriptor used to drop SQLite's dead-man-switch lock; the next process to connect then took
    itself for the only user, reinitialised the WAL-index, and both processes wrote as if each held the
    write lock (tests/volfs/test_image_locks.py). So nothing here is closed before the last VolFs of the
    image in this process has closed its SQLite connection."""

    _kept: dict[tuple[int, int], KeptFile] = {}
    _lock = threading.Lock()

    def __init__(self, key: tuple[int, int], fd: int) -> None:
        self.key = key
        self.fd = fd
        self.refs = 0
        self.map: mmap.mmap | None = None

    @classmethod
    def acquire(cls, path: str) -> KeptFile:
        """The kept descriptor of ``path`` (opened read-only if this process has none), one more user.
        Looked up by stat before any open: opening and closing a second descriptor would drop the locks."""
        with cls._lock:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
            kept = cls._kept.get(key)
            if kept is None:
                kept = cls._kept[key] = KeptFile(key, os.open(path, os.O_RDONLY | os.O_CLOEXEC))
            kept.refs += 1
            return kept

    def release(self) -> None:
        """One user fewer; the last one closes (call it after closing the SQLite connection)."""
        with self._lock:
            self.refs -= 1
            if self.refs:
                return
            del self._kept[self.key]
            if self.map is not None:
                self.map.close()
            os.close(self.fd)


class WalIndex:
    """A read-only view of the WAL-index (the -shm file; walformat.html section 2.2): the header that
    every commit rewrites and the count of frames already checkpointed. Native byte order."""

    HEADER = 48  # WalIndexHdr; a second copy follows, then WalCkptInfo at 96
    BACKFILL = 96  # WalCkptInfo.nBackfill: frames already copied into the database file
    _FRAMES = struct.Struct("=I")

    def __init__(self, path: str) -> None:
        self._file = KeptFile.acquire(path + "-shm")
        try:
            if self._file.map is None:
                self._file.map = mmap.mmap(self._file.fd, 136, prot=mmap.PROT_READ)
        except BaseException:
            self._file.release()
            raise
        self.map = self._file.map

    def frames(self) -> tuple[int, int]:
        """(frames in the WAL, frames of those already copied into the database file)."""
        (max_frame,) = self._FRAMES.unpack_from(self.map, 16)
        (backfilled,) = self._FRAMES.unpack_from(self.map, self.BACKFILL)
        return max_frame, min(backfilled, max_frame)

    def pending_frames(self) -> int:
        """Frames in the WAL not yet copied into the database file."""
        max_frame, backfilled = self.frames()
        return max_frame - backfilled

    def close(self) -> None:
        """After the SQLite connection is closed (KeptFile says why)."""
        self._file.release()


class Checkpointer:
    """Copies the WAL into the database on a thread of its own, so that no syscall pays for a
    checkpoint (and its fsyncs) inside its commit. Measured on 32 KiB pages, 1 MiB commits on disk:
    100-134 MB/s with SQLite's automatic checkpoints, 204-213 MB/s this way. The thread has its own
    connection; SQLite serialises it with every other checkpointer on the image."""

    def __init__(self, path: str, page_size: int) -> None:
        self.path = path
        self.frame_bytes = page_size + 24
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="volfs-checkpoint", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None, timeout=0)
        try:
            index = WalIndex(self.path)
        except (OSError, ValueError):
            db.close()
            return
        try:
            while not self._stop:
                self._wake.wait(0.2)  # also notices other processes' writes
                self._wake.clear()
                if self._stop:
                    break
                if index.pending_frames() * self.frame_bytes >= CHECKPOINT_AFTER:
                    try:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error:
                        pass  # busy or closing: the next round tries again
        finally:
            index.close()
            db.close()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join()


class InodeHolds:
    """Which inodes are open in any process: an open-file-description read lock on byte ``ino`` of the
    image's ``-holds`` file per open inode (fcntl F_OFD_SETLK, Linux 3.15). The kernel drops a dead
    process's locks, so an orphan nobody holds any more is exactly an orphan to free, whichever process
    unlinked it and whichever held it."""

    _FLOCK = struct.Struct("hhqqi4x")  # struct flock on x86-64: l_type, l_whence, l_start, l_len, l_pid

    def __init__(self, path: str, readonly: bool) -> None:
        flags = os.O_RDONLY if readonly else os.O_RDWR | os.O_CREAT
        self.fd = os.open(path + "-holds", flags | os.O_CLOEXEC, 0o644)

    def _lock(self, ltype: int, ino: int) -> None:
        fcntl.fcntl(self.fd, fcntl.F_OFD_SETLK, self._FLOCK.pack(ltype, os.SEEK_SET, ino, 1, 0))

    def hold(self, ino: int) -> None:
        self._lock(fcntl.F_RDLCK, ino)

    def release(self, ino: int) -> None:
        self._lock(fcntl.F_UNLCK, ino)

    def held_elsewhere(self, ino: int) -> bool:
        """Whether another open file description (another process, or another VolFs) holds ``ino``."""
        probe = self._FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, ino, 1, 0)
        ltype = self._FLOCK.unpack(fcntl.fcntl(self.fd, fcntl.F_OFD_GETLK, probe))[0]
        return bool(ltype != fcntl.F_UNLCK)

    def close(self) -> None:
        os.close(self.fd)
