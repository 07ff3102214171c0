"""The struct layouts of fs_structs.py against the C compiler's view of the same x86-64 structs, and
round trips of the variable-length records (dirents, cmsgs, fd_sets)."""

from __future__ import annotations

import struct
import subprocess

from emulator.syscalls import fs_structs as S
from lxfs.vfs.stat import Stat
from tests.emulator.harness import compile_program


def _layouts() -> dict[str, int]:
    out = subprocess.run([str(compile_program("fs_layouts", "glibc"))], capture_output=True, check=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.decode().splitlines())}


def test_sizes_and_offsets_match_the_c_compiler() -> None:
    c = _layouts()
    assert c["stat"] == S.STAT.size == 144
    assert c["statx"] == S.STATX.size == 256
    assert c["statfs"] == S.STATFS.size == 120
    assert c["dirent64.d_name"] == S.DIRENT64_HEADER.size
    assert c["iovec"] == S.IOVEC.size and c["pollfd"] == S.POLLFD.size
    assert c["epoll_event"] == S.EPOLL_EVENT.size == 12
    assert c["flock"] == S.FLOCK.size and c["flock.l_start"] == 8 and c["flock.l_pid"] == 24
    assert c["msghdr"] == S.MSGHDR.size and c["msghdr.msg_flags"] == S.MSGHDR_FLAGS_OFFSET
    assert c["msghdr.msg_controllen"] == 40 and c["mmsghdr"] == S.MMSGHDR_SIZE
    assert c["cmsghdr"] == S.CMSGHDR.size and c["ucred"] == S.UCRED.size
    assert c["sockaddr_un"] == 110


def test_stat_fields_land_at_the_c_offsets() -> None:
    c = _layouts()
    raw = S.pack_stat(Stat(1, 2, 0o100644, 3, 4, 5, 0x0801, 6, 4096, 8, 1_000_000_001, 2_000_000_002, 3_000_000_003))
    assert struct.unpack_from("<I", raw, c["stat.st_mode"])[0] == 0o100644
    assert struct.unpack_from("<Q", raw, c["stat.st_rdev"])[0] == 0x0801
    assert struct.unpack_from("<q", raw, c["stat.st_size"])[0] == 6
    assert struct.unpack_from("<qq", raw, c["stat.st_mtim"]) == (2, 2)
    assert S.unpack_stat(raw)["st_ctime_ns"] == 3_000_000_003


def test_statx_fields_land_at_the_c_offsets() -> None:
    c = _layouts()
    dev = (259 << 8) | 3
    raw = S.pack_statx(Stat(dev, 77, 0o40755, 2, 0, 0, 0, 4096, 4096, 8, 1, 5_000_000_006, 2), 0x17FF, 9)
    assert struct.unpack_from("<H", raw, c["statx.stx_mode"])[0] == 0o40755
    assert struct.unpack_from("<Q", raw, c["statx.stx_ino"])[0] == 77
    assert struct.unpack_from("<qI", raw, c["statx.stx_mtime"]) == (5, 6)
    assert struct.unpack_from("<II", raw, c["statx.stx_dev_major"]) == (259, 3)
    assert struct.unpack_from("<Q", raw, c["statx.stx_mnt_id"])[0] == 9


def test_dirent_records_are_8_aligned_and_nul_terminated() -> None:
    for name in (b"a", b"1234", b"x" * 5, b"y" * 255):
        rec = S.pack_dirent64(5, 9, 4, name)
        assert len(rec) % 8 == 0 and len(rec) == S.dirent64_reclen(name)
        ino, off, reclen, dtype = S.DIRENT64_HEADER.unpack_from(rec)
        assert (ino, off, reclen, dtype) == (5, 9, len(rec), 4)
        assert rec[19 : 19 + len(name) + 1] == name + b"\0"
        old = S.pack_dirent(5, 9, 8, name)
        assert len(old) % 8 == 0 and old[-1] == 8


def test_cmsg_and_fd_set_round_trips() -> None:
    ctl = S.pack_cmsg(1, 1, struct.pack("<ii", 3, 4)) + S.pack_cmsg(1, 2, S.UCRED.pack(1, 2, 3), last=True)
    assert S.unpack_cmsgs(ctl) == [(1, 1, struct.pack("<ii", 3, 4)), (1, 2, S.UCRED.pack(1, 2, 3))]
    assert S.fd_set_size(1) == 8 and S.fd_set_size(65) == 16
    assert S.unpack_fd_set(S.pack_fd_set([0, 5, 64], 70), 70) == [0, 5, 64]
