"""The VolFs image schema: SQLAlchemy tables (the single source of truth); its version, constants and
ImageError live in layout.py, which opening an image imports without SQLAlchemy.

An image is one SQLite file. ``PRAGMA application_id`` marks it as lxfs; ``meta`` holds the schema
version, the filesystem uuid and the chunk size. Inode numbers are rowids; file data lives in fixed-size
``chunk`` rows (a missing chunk is a hole); a directory's ``..`` is its ``parent`` column. Dentries are
keyed and ordered by a 62-bit hash of the name, which is also the readdir cookie (as ext4's htree does):
cookies stay valid while entries come and go.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    event,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

inode = Table(
    "inode",
    metadata,
    Column("ino", Integer, primary_key=True),  # the rowid
    Column("mode", Integer, nullable=False),  # S_IFMT | 07777
    Column("nlink", Integer, nullable=False),
    Column("uid", Integer, nullable=False),
    Column("gid", Integer, nullable=False),
    Column("rdev", BigInteger, nullable=False, default=0),
    Column("size", BigInteger, nullable=False, default=0),
    Column("blocks", BigInteger, nullable=False, default=0),  # 512-byte units stored in chunks
    Column("atime", BigInteger, nullable=False),  # ns since the epoch
    Column("mtime", BigInteger, nullable=False),
    Column("ctime", BigInteger, nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("target", LargeBinary),  # symlink target
    Column("parent", Integer),  # directories: the parent's ino ('..'); the root is its own parent
)

dentry = Table(
    "dentry",
    metadata,
    Column("parent", Integer, nullable=False),
    Column("hash", BigInteger, nullable=False),  # name_hash(name): the readdir order and cookie
    Column("name", LargeBinary, nullable=False),
    Column("ino", Integer, nullable=False),
    Column("type", Integer, nullable=False),  # DT_* of the inode, so readdir needs no inode lookups
    # One B-tree and no secondary index: every syscall commits, and each B-tree page a transaction
    # dirties costs a WAL frame (~25 us here); see bench/RESULTS.md.
    PrimaryKeyConstraint("parent", "hash", "name", name="dentry_pk"),
    sqlite_with_rowid=False,
)

chunk = Table(
    "chunk",
    metadata,
    Column("ino", Integer, nullable=False),
    Column("idx", Integer, nullable=False),  # byte offset // CHUNK_SIZE
    Column("data", LargeBinary, nullable=False),  # at most CHUNK_SIZE; bytes past its end read as zeros
    PrimaryKeyConstraint("ino", "idx", name="chunk_pk"),
)

xattr = Table(
    "xattr",
    metadata,
    Column("ino", Integer, nullable=False),
    Column("name", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),
    PrimaryKeyConstraint("ino", "name", name="xattr_pk"),
)

orphan = Table(
    "orphan",
    metadata,
    Column("ino", Integer, nullable=False),  # nlink 0, still open in the holder process
    Column("pid", Integer, nullable=False),
    Column("start_time", BigInteger, nullable=False),  # /proc/<pid>/stat field 22: tells pid reuse apart
    PrimaryKeyConstraint("ino", "pid", name="orphan_pk"),
)


# Freeing an inode frees everything hanging off it, inside SQLite: one statement from the hot path.
event.listen(
    metadata,
    "after_create",
    DDL(
        "CREATE TRIGGER inode_freed AFTER DELETE ON inode BEGIN "
        "DELETE FROM chunk WHERE ino = old.ino; "
        "DELETE FROM xattr WHERE ino = old.ino; "
        "DELETE FROM orphan WHERE ino = old.ino; "
        "END"
    ),
)
