"""x86-64 Linux struct layouts used by the file, poll and socket syscalls, as pack/unpack functions.

Every layout is the one the kernel copies to or from user space on x86-64 (include/uapi/asm-generic
and arch/x86/include/uapi); sizes are asserted below so a wrong format string fails at import.
"""

from __future__ import annotations

import os
import stat as statmod
import struct
from collections.abc import Iterable

from lxfs.vfs.stat import Stat

# --- struct stat (arch/x86/include/uapi/asm/stat.h), 144 bytes -----------------------------------
# st_dev, st_ino, st_nlink, st_mode, st_uid, st_gid, __pad0, st_rdev, st_size, st_blksize, st_blocks,
# st_atime, st_atime_nsec, st_mtime, st_mtime_nsec, st_ctime, st_ctime_nsec, __unused[3]
STAT = struct.Struct("<QQQIIIiQqqqqqqqqq24x")
assert STAT.size == 144

# --- struct statx (include/uapi/linux/stat.h), 256 bytes -----------------------------------------
STATX = struct.Struct(
    "<IIQ"  # stx_mask, stx_blksize, stx_attributes
    "IIIH2x"  # stx_nlink, stx_uid, stx_gid, stx_mode, __spare0
    "QQQQ"  # stx_ino, stx_size, stx_blocks, stx_attributes_mask
    "qI4x"
    "qI4x"
    "qI4x"
    "qI4x"  # stx_atime, stx_btime, stx_ctime, stx_mtime (statx_timestamp)
    "IIII"  # stx_rdev_major/minor, stx_dev_major/minor
    "Q"  # stx_mnt_id
    "II"  # stx_dio_mem_align, stx_dio_offset_align
    "96x"  # __spare3[12]
)
assert STATX.size == 256
STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x800
STATX_MNT_ID = 0x1000
STATX__RESERVED = 0x80000000
# statx(2) flags beyond AT_*: sync type (AT_STATX_SYNC_TYPE)
AT_STATX_SYNC_TYPE = 0x6000

# --- struct statfs (include/uapi/asm-generic/statfs.h, 64-bit), 120 bytes ------------------------
# f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_fsid[2], f_namelen, f_frsize,
# f_flags, f_spare[4]
STATFS = struct.Struct("<qqQQQQQiiqqq32x")
assert STATFS.size == 120

# --- linux_dirent64 (include/linux/dirent.h) -------------------------------------------------------
DIRENT64_HEADER = struct.Struct("<QqHB")  # d_ino, d_off, d_reclen, d_type; d_name follows
assert DIRENT64_HEADER.size == 19

# --- struct iovec, 16 bytes -------------------------------------------------------------------------
IOVEC = struct.Struct("<QQ")
# --- struct pollfd, 8 bytes -------------------------------------------------------------------------
POLLFD = struct.Struct("<ihh")
# --- struct epoll_event: packed on x86-64 (include/uapi/linux/eventpoll.h EPOLL_PACKED), 12 bytes
EPOLL_EVENT = struct.Struct("<IQ")
assert EPOLL_EVENT.size == 12
# --- struct flock (include/uapi/asm-generic/fcntl.h), 32 bytes --------------------------------------
FLOCK = struct.Struct("<hh4xqqi4x")
assert FLOCK.size == 32
# --- struct timespec / timeval, 16 bytes -------------------------------------------------------------
TIMESPEC = struct.Struct("<qq")
# --- struct msghdr (include/linux/socket.h user_msghdr), 56 bytes ---------------------------------
MSGHDR = struct.Struct("<QI4xQQQQi4x")
assert MSGHDR.size == 56
MSGHDR_FLAGS_OFFSET = 48
# --- struct mmsghdr: msghdr + unsigned msg_len (+pad), 64 bytes ----------------------------------
MMSGHDR_SIZE = 64
# --- struct cmsghdr: size_t cmsg_len; int cmsg_level; int cmsg_type; data (8-aligned) ----------------
CMSGHDR = struct.Struct("<Qii")
assert CMSGHDR.size == 16
# --- struct ucred (SCM_CREDENTIALS, SO_PEERCRED), 12 bytes ------------------------------------------
UCRED = struct.Struct("<iII")
# --- struct open_how (openat2), 24 bytes ----------------------------------------------------------
OPEN_HOW = struct.Struct("<QQQ")
# --- struct file_handle etc. are not supported ----------------------------------------------------
# --- struct linux_dirent (getdents, the old one): d_ino, d_off, d_reclen, name, pad, d_type ----------
DIRENT_HEADER = struct.Struct("<QQH")
# --- struct utimbuf / timeval pairs for utime/utimes --------------------------------------------
UTIMBUF = struct.Struct("<qq")


def _times(st: Stat) -> tuple[int, int, int, int, int, int]:
    a_s, a_n = divmod(st.st_atime_ns, 1_000_000_000)
    m_s, m_n = divmod(st.st_mtime_ns, 1_000_000_000)
    c_s, c_n = divmod(st.st_ctime_ns, 1_000_000_000)
    return a_s, a_n, m_s, m_n, c_s, c_n


def pack_stat(st: Stat) -> bytes:
    a_s, a_n, m_s, m_n, c_s, c_n = _times(st)
    return STAT.pack(
        st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0, st.st_rdev, st.st_size,
        st.st_blksize, st.st_blocks, a_s, a_n, m_s, m_n, c_s, c_n,
    )  # fmt: skip


def pack_statx(st: Stat, mask: int, mnt_id: int) -> bytes:
    a_s, a_n, m_s, m_n, c_s, c_n = _times(st)
    rdev, dev = st.st_rdev, st.st_dev
    return STATX.pack(
        mask, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid, st.st_mode & 0xFFFF, st.st_ino, st.st_size,
        st.st_blocks, 0, a_s, a_n, 0, 0, c_s, c_n, m_s, m_n, os.major(rdev), os.minor(rdev), os.major(dev),
        os.minor(dev), mnt_id, 0, 0,
    )  # fmt: skip


def unpack_stat(data: bytes) -> dict[str, int]:
    """Decode a struct stat (for tests and strace)."""
    f = STAT.unpack(data)
    return {
        "st_dev": f[0],
        "st_ino": f[1],
        "st_nlink": f[2],
        "st_mode": f[3],
        "st_uid": f[4],
        "st_gid": f[5],
        "st_rdev": f[7],
        "st_size": f[8],
        "st_blksize": f[9],
        "st_blocks": f[10],
        "st_atime_ns": f[11] * 1_000_000_000 + f[12],
        "st_mtime_ns": f[13] * 1_000_000_000 + f[14],
        "st_ctime_ns": f[15] * 1_000_000_000 + f[16],
    }


def pack_statfs(
    f_type: int,
    f_bsize: int,
    f_blocks: int,
    f_bfree: int,
    f_bavail: int,
    f_files: int,
    f_ffree: int,
    f_fsid: tuple[int, int],
    f_namelen: int,
    f_frsize: int,
    f_flags: int,
) -> bytes:
    return STATFS.pack(
        f_type,
        f_bsize,
        f_blocks,
        f_bfree,
        f_bavail,
        f_files,
        f_ffree,
        f_fsid[0],
        f_fsid[1],
        f_namelen,
        f_frsize,
        f_flags,
    )


def dirent64_reclen(name: bytes) -> int:
    # d_reclen = ALIGN(offsetof(d_name) + namelen + 1, sizeof(u64))  (fs/readdir.c)
    return (DIRENT64_HEADER.size + len(name) + 1 + 7) & ~7


def pack_dirent64(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    reclen = dirent64_reclen(name)
    rec = DIRENT64_HEADER.pack(ino, off, reclen, dtype) + name
    return rec + b"\0" * (reclen - len(rec))


def dirent_reclen(name: bytes) -> int:
    # old linux_dirent: d_ino, d_off, d_reclen, d_name[], NUL, d_type in the last byte (fs/readdir.c)
    return (DIRENT_HEADER.size + len(name) + 2 + 7) & ~7


def pack_dirent(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    reclen = dirent_reclen(name)
    rec = DIRENT_HEADER.pack(ino, off, reclen) + name
    rec = rec + b"\0" * (reclen - len(rec) - 1)
    return rec + bytes([dtype])


def unpack_iovecs(data: bytes) -> list[tuple[int, int]]:
    return [IOVEC.unpack_from(data, i) for i in range(0, len(data), IOVEC.size)]


def unpack_pollfds(data: bytes) -> list[tuple[int, int, int]]:
    return [POLLFD.unpack_from(data, i) for i in range(0, len(data), POLLFD.size)]


def pack_pollfds(entries: Iterable[tuple[int, int, int]]) -> bytes:
    return b"".join(POLLFD.pack(fd, ev, rev) for fd, ev, rev in entries)


def pack_epoll_events(events: Iterable[tuple[int, int]]) -> bytes:
    return b"".join(EPOLL_EVENT.pack(ev, data) for ev, data in events)


def unpack_flock(data: bytes) -> tuple[int, int, int, int, int]:
    """(l_type, l_whence, l_start, l_len, l_pid)."""
    return FLOCK.unpack(data)


def pack_flock(l_type: int, l_whence: int, l_start: int, l_len: int, l_pid: int) -> bytes:
    return FLOCK.pack(l_type, l_whence, l_start, l_len, l_pid)


def cmsg_align(n: int) -> int:
    return (n + 7) & ~7


def cmsg_space(n: int) -> int:
    return CMSGHDR.size + cmsg_align(n)


def unpack_cmsgs(control: bytes) -> list[tuple[int, int, bytes]]:
    """Walk a control buffer as CMSG_FIRSTHDR/CMSG_NXTHDR do: [(level, type, data)]. A header whose
    cmsg_len is short or runs past the buffer raises ValueError (the caller's EINVAL)."""
    out = []
    pos = 0
    while pos + CMSGHDR.size <= len(control):
        length, level, ctype = CMSGHDR.unpack_from(control, pos)
        if length < CMSGHDR.size or pos + length > len(control):
            raise ValueError("bad cmsg_len")
        out.append((level, ctype, bytes(control[pos + CMSGHDR.size : pos + length])))
        pos += cmsg_align(length)
    return out


def pack_cmsg(level: int, ctype: int, data: bytes, last: bool = False) -> bytes:
    """One control message: CMSG_LEN(len(data)) of header and data, padded to CMSG_SPACE unless it is
    the last one (put_cmsg advances by CMSG_SPACE but never past the caller's buffer)."""
    hdr = CMSGHDR.pack(CMSGHDR.size + len(data), level, ctype) + data
    if last:
        return hdr
    return hdr + b"\0" * (cmsg_space(len(data)) - len(hdr))


def pack_fd_set(fds: Iterable[int], nfds: int) -> bytes:
    nbytes = ((nfds + 63) // 64) * 8
    bits = 0
    for fd in fds:
        bits |= 1 << fd
    return bits.to_bytes(nbytes, "little")


def unpack_fd_set(data: bytes, nfds: int) -> list[int]:
    bits = int.from_bytes(data, "little")
    return [fd for fd in range(nfds) if bits >> fd & 1]


def fd_set_size(nfds: int) -> int:
    """Bytes select(2) reads for nfds: whole unsigned longs (fs/select.c FDS_BYTES)."""
    return ((nfds + 63) // 64) * 8


def dtype_of(mode: int) -> int:
    return statmod.S_IFMT(mode) >> 12
