"""The VolFs image's layout constants, the dentry name hash and ImageError, without SQLAlchemy: opening an
image (every `lxfs run` and `lxfs mount`) needs only these and sqlite3; schema.py has the tables."""

from __future__ import annotations

import functools
import hashlib

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4C58_4653  # "LXFS" in the SQLite header (offset 68)
CHUNK_SIZE = 128 * 1024  # FUSE's read request size; see DESIGN.md "Measured"
# Chosen by bench/bench_volfs.py --page-sizes (bench/RESULTS.md): on a disk-backed image a commit costs
# per byte of the pages it dirties, so metadata calls favour small pages and 1 MiB writes big ones; 8 KiB
# gave the best product of create+stat+unlink/s and write MB/s (below DESIGN.md's 16-64 KiB range).
PAGE_SIZE = 8 * 1024
ROOT_INO = 1


@functools.lru_cache(maxsize=1024)
def name_hash(name: bytes) -> int:
    """A dentry's readdir cookie: stable across runs and hosts, above 2 (1 and 2 are '.' and '..')
    and below 2**63 (a signed off_t). Cached: a create's name is hashed again by the unlink or lookup
    that usually follows (blake2b is ~1 us a call)."""
    return (int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little") >> 2) + 3


class ImageError(Exception):
    """An image cannot be created or opened; the message is for the user (no traceback needed)."""


class ImageNotWritable(ImageError):
    """An image that can be opened read-only but not for writing (a read-only file system, no write
    permission on it or on its directory)."""
