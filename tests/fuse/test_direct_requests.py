"""The requests the server answers without libfuse (FuseAdapter.direct), fed as the kernel writes them
(include/uapi/linux/fuse.h) to an adapter over a fresh VolFs: the replies' headers, errnos and payloads,
and that everything else is left to libfuse. The mount tests run the same code through the kernel."""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxfs.fuse import _ENTRY_OUT, _OPEN_OUT, FOPEN_NOFLUSH, FuseAdapter
from lxfs.vfs.namespace import Namespace
from lxfs.volfs.volfs import VolFs

IN = struct.Struct("=IIQQIIIHH")
OUT = struct.Struct("=IiQ")
LOOKUP, FORGET, GETATTR, MKDIR, UNLINK, RELEASE, CREATE, INTERRUPT, BATCH_FORGET = 1, 2, 3, 9, 10, 18, 35, 36, 42


class Wire:
    def __init__(self, adapter: FuseAdapter) -> None:
        self.adapter = adapter
        self.unique = 0

    def send(self, opcode: int, nodeid: int, body: bytes, uid: int = 0, gid: int = 0) -> bytes | None:
        self.unique += 1
        req = IN.pack(IN.size + len(body), opcode, self.unique, nodeid, uid, gid, os.getpid(), 0, 0) + body
        buf = bytearray(req) + bytes(64)  # the server's buffer is larger than the request
        return self.adapter.direct(memoryview(buf), len(req))

    def reply(self, opcode: int, nodeid: int, body: bytes, uid: int = 0, gid: int = 0) -> tuple[int, bytes]:
        out = self.send(opcode, nodeid, body, uid, gid)
        assert out is not None
        length, error, unique = OUT.unpack_from(out)
        assert length == len(out) and unique == self.unique
        return error, out[OUT.size :]


@pytest.fixture
def wire(tmp_path: Path) -> Iterator[Wire]:
    fs = VolFs.create(tmp_path / "i.lxfs")
    adapter = FuseAdapter(Namespace(fs))
    adapter._direct_ok = True  # as op_init sets it for protocol 7.12+
    yield Wire(adapter)
    adapter.close_all()
    fs.close()


def test_create_getattr_release_unlink_forget(wire: Wire) -> None:
    error, out = wire.reply(CREATE, 1, struct.pack("=IIII", os.O_WRONLY | os.O_EXCL, 0o100640, 0o022, 0) + b"f\0")
    assert error == 0
    entry, opened = out[: _ENTRY_OUT.size], out[_ENTRY_OUT.size :]
    fields = _ENTRY_OUT.unpack(entry)
    nodeid, mode = fields[0], fields[15]
    fh, open_flags, _ = _OPEN_OUT.unpack(opened)
    assert nodeid > 1 and stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o640
    assert open_flags == FOPEN_NOFLUSH

    error, _ = wire.reply(CREATE, 1, struct.pack("=IIII", os.O_WRONLY | os.O_EXCL, 0o100640, 0, 0) + b"f\0")
    assert error == -errno.EEXIST

    error, attr = wire.reply(GETATTR, nodeid, struct.pack("=IIQ", 0, 0, 0))
    assert error == 0 and struct.unpack_from("=Q", attr, 16)[0] == fields[6]  # fuse_attr.ino
    error, attr = wire.reply(GETATTR, nodeid, struct.pack("=IIQ", 1, 0, fh))  # FUSE_GETATTR_FH
    assert error == 0
    error, _ = wire.reply(GETATTR, nodeid, struct.pack("=IIQ", 1, 0, fh + 100))
    assert error == -errno.EBADF

    error, out = wire.reply(LOOKUP, 1, b"f\0")
    assert error == 0 and _ENTRY_OUT.unpack(out[: _ENTRY_OUT.size])[0] == nodeid
    assert wire.reply(UNLINK, 1, b"f\0") == (0, b"")
    assert wire.reply(RELEASE, nodeid, struct.pack("=QIIQ", fh, 0, 1, 0)) == (0, b"")  # with RELEASE_FLUSH
    assert wire.reply(UNLINK, 1, b"f\0")[0] == -errno.ENOENT

    # the kernel's two references (CREATE's and LOOKUP's), forgotten in a FORGET and a BATCH_FORGET
    assert wire.send(FORGET, nodeid, struct.pack("=Q", 1)) == b""
    assert nodeid in wire.adapter.nodes
    assert wire.send(BATCH_FORGET, 0, struct.pack("=II", 1, 0) + struct.pack("=QQ", nodeid, 1)) == b""
    assert nodeid not in wire.adapter.nodes
    error, _ = wire.reply(GETATTR, nodeid, struct.pack("=IIQ", 0, 0, 0))
    assert error == -errno.ESTALE


def test_missing_name_is_a_negative_entry(wire: Wire) -> None:
    error, out = wire.reply(LOOKUP, 1, b"nothing\0")
    assert error == 0 and len(out) == _ENTRY_OUT.size
    fields = _ENTRY_OUT.unpack(out)
    assert fields[0] == 0 and fields[2] == 1  # node 0, kept for the entry timeout (1 s)


def test_credentials_come_from_the_request(wire: Wire) -> None:
    error, _ = wire.reply(CREATE, 1, struct.pack("=IIII", os.O_WRONLY, 0o100644, 0, 0) + b"x\0", uid=1000, gid=1000)
    assert error == -errno.EACCES  # the root directory is root's, 0755


def test_other_requests_are_left_to_libfuse(wire: Wire) -> None:
    assert wire.send(MKDIR, 1, struct.pack("=II", 0o755, 0) + b"d\0") is None
    assert wire.send(INTERRUPT, 0, struct.pack("=Q", 12345)) == b""  # dropped: nothing is in flight
    wire.adapter._direct_ok = False  # before INIT, or a protocol older than 7.12
    assert wire.send(LOOKUP, 1, b"f\0") is None
