"""The VolFs image schema: SQLAlchemy tables (the single source of truth), its version, and image errors.

An image is one SQLite file. ``PRAGMA application_id`` marks it as lxfs; ``meta`` holds the schema
version, the filesystem uuid and the chunk size. Inode numbers are rowids; file data lives in fixed-size
``chunk`` rows (a missing chunk is a hole); a directory's ``..`` is its one dentry's parent.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4C58_4653  # "LXFS" in the SQLite header (offset 68)
CHUNK_SIZE = 128 * 1024  # FUSE's read request size; see DESIGN.md "Measured"
PAGE_SIZE = 32 * 1024  # chosen by bench/bench_volfs.py --page-sizes (see bench/RESULTS.md)
ROOT_INO = 1

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
)

dentry = Table(
    "dentry",
    metadata,
    Column("parent", Integer, nullable=False),
    Column("name", LargeBinary, nullable=False),
    Column("ino", Integer, nullable=False),
    # A rowid table on purpose: the rowid is the readdir cookie (stable while entries come and go).
    PrimaryKeyConstraint("parent", "name", name="dentry_pk"),
    Index("dentry_by_parent", "parent"),  # (parent, rowid): readdir in cookie order
    Index("dentry_by_ino", "ino"),  # find_name, a directory's '..'
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


class ImageError(Exception):
    """An image cannot be created or opened; the message is for the user (no traceback needed)."""
