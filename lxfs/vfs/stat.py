"""Stat: what stat(2) returns for an inode seen through a mount (Attr + the mount's st_dev)."""

from __future__ import annotations

from dataclasses import dataclass

from lxfs.vfs.interfaces import Attr


@dataclass(slots=True)
class Stat:
    """Field names and meanings as ``os.stat_result`` (times as integer nanoseconds)."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int

    @classmethod
    def from_attr(cls, attr: Attr, dev: int) -> Stat:
        return cls(
            dev,
            attr.ino,
            attr.mode,
            attr.nlink,
            attr.uid,
            attr.gid,
            attr.rdev,
            attr.size,
            attr.blksize,
            attr.blocks,
            attr.atime_ns,
            attr.mtime_ns,
            attr.ctime_ns,
        )
