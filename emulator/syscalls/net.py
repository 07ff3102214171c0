"""AF_UNIX sockets (stream, datagram, seqpacket; path, abstract and unnamed addresses; SCM_RIGHTS and
SCM_CREDENTIALS) as FileOps, and the socket syscalls on top of them (net/unix/af_unix.c semantics).

Other families give EAFNOSUPPORT. Blocking follows interfaces.FileOps: an operation that cannot proceed
raises FsError(EAGAIN) without side effects, the syscall layer parks the task on ``waitq``.
"""

from __future__ import annotations

import errno
import os
import select
import socket as pysocket
import stat
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.kernel import Block
from emulator.syscalls import poll  # noqa: F401  (registers poll/select/epoll/eventfd)
from emulator.syscalls.fs import (
    MAX_RW,
    _gather,
    _iovecs,
    _scatter,
    block_on,
    blocking,
    ctx_of,
    fdtable_of,
    files_of,
    get_file,
    install_pair,
    sigpipe,
)
from emulator.syscalls.fs_structs import (
    CMSGHDR,
    MMSGHDR_SIZE,
    MSGHDR,
    MSGHDR_FLAGS_OFFSET,
    UCRED,
    pack_cmsg,
    unpack_cmsgs,
)
from emulator.syscalls.table import s32, syscall
from lxfs.linux import AT_SYMLINK_NOFOLLOW
from lxfs.vfs.errors import FsError
from lxfs.vfs.inode import inode_permission
from lxfs.vfs.interfaces import FileOps
from lxfs.vfs.perm import MAY_WRITE

if TYPE_CHECKING:
    from emulator.kernel import Task
    from lxfs.vfs.file import OpenFile

AF_UNIX = pysocket.AF_UNIX
SOCK_STREAM = pysocket.SOCK_STREAM
SOCK_DGRAM = pysocket.SOCK_DGRAM
SOCK_SEQPACKET = pysocket.SOCK_SEQPACKET
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
SOL_SOCKET = 1
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_LINGER = 13
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO = 20
SO_SNDTIMEO = 21
SO_ACCEPTCONN = 30
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PROTOCOL = 38
SO_DOMAIN = 39
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000
MSG_CMSG_CLOEXEC = 0x40000000
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3
POLLRDHUP = 0x2000
SCM_MAX_FD = 253  # include/net/scm.h
UNIX_PATH_MAX = 108
SOCKADDR_UN_SIZE = 110
# net.core.wmem_default; a stream peer accepts this much unread data before writers block
SOCK_BUF_DEFAULT = 212992
# net.unix.max_dgram_qlen: datagrams queued on a receiver before senders block
MAX_DGRAM_QLEN = 10

UNCONNECTED, LISTENING, CONNECTED, CLOSED = range(4)

Cred = tuple[int, int, int]  # (pid, uid, gid) as struct ucred
# Linux reports SO_PEERCRED of an unconnected socket as pid 0, uid/gid overflowid (65534)
NO_CRED: Cred = (0, 65534, 65534)


@dataclass(slots=True)
class Message:
    """One skb on a receive queue: its bytes, rights (OpenFiles, each holding one reference) and the
    sender's credentials and address."""

    data: bytes
    rights: list[OpenFile] | None
    cred: Cred
    sender: bytes = b""  # sender's address (datagrams)
    consumed: int = 0  # stream: bytes already read


@dataclass(slots=True)
class Received:
    data: bytes
    rights: list[OpenFile] | None
    cred: Cred | None
    sender: bytes | None
    flags: int  # MSG_TRUNC ...
    full_len: int  # datagram length (for MSG_TRUNC returns)


@dataclass
class UnixRegistry:
    """The kernel-wide table of bound AF_UNIX addresses: filesystem sockets by (st_dev, st_ino) of
    their S_IFSOCK inode, abstract ones by name."""

    by_inode: dict[tuple[int, int], UnixSocket] = field(default_factory=dict)
    abstract: dict[bytes, UnixSocket] = field(default_factory=dict)
    next_autobind: int = 1
    next_ino: int = 1


def _release_rights(rights: list[OpenFile] | None) -> None:
    if rights:
        for f in rights:
            f.close()


class UnixSocket(FileOps):
    """One AF_UNIX socket (struct unix_sock)."""

    seekable = False

    def __init__(self, stype: int, registry: UnixRegistry, cred: Cred) -> None:
        super().__init__()
        self.type = stype
        self.registry = registry
        self.ino = registry.next_ino  # sockfs inode number
        registry.next_ino += 1
        self.state = UNCONNECTED
        self.peer: UnixSocket | None = None
        self.addr: bytes | None = None  # None: never bound; b"\0..." abstract; b"/path" (as given)
        self.bound_key: tuple[int, int] | None = None
        self.recvq: deque[Message] = deque()
        self.queued_bytes = 0
        self.shutdown = 0
        self.err = 0
        self.backlog = 0
        self.acceptq: deque[UnixSocket] = deque()
        self.cred = cred  # the creator's credentials (peer credentials for the other side)
        self.peercred: Cred | None = None
        self.passcred = False
        self.sndbuf = SOCK_BUF_DEFAULT
        self.rcvbuf = SOCK_BUF_DEFAULT
        self.dead = False

    @property
    def connection_oriented(self) -> bool:
        return self.type != SOCK_DGRAM

    # --- readiness ---------------------------------------------------------------------------------
    def poll(self, file: OpenFile | None) -> int:
        # unix_poll / unix_dgram_poll
        mask = 0
        if self.err:
            mask |= select.POLLERR
        if self.shutdown == SHUTDOWN_MASK:
            mask |= select.POLLHUP
        if self.shutdown & RCV_SHUTDOWN:
            mask |= POLLRDHUP | select.POLLIN | select.POLLRDNORM
        if self.recvq or self.acceptq:
            mask |= select.POLLIN | select.POLLRDNORM
        if self.connection_oriented and self.state in (UNCONNECTED, CLOSED):
            mask |= select.POLLHUP  # TCP_CLOSE
        if self.state == LISTENING:
            return mask
        if self._writable():
            mask |= select.POLLOUT | select.POLLWRNORM | select.POLLWRBAND
        return mask

    def _writable(self) -> bool:
        if self.connection_oriented:
            if self.state != CONNECTED:
                return True
            peer = self.peer
            if peer is None or peer.dead:
                return True  # writes fail at once (EPIPE)
            return peer.queued_bytes < peer.rcvbuf
        peer = self.peer
        if peer is not None and not peer.dead and peer.peer not in (None, self):
            return False
        return peer is None or peer.dead or len(peer.recvq) <= MAX_DGRAM_QLEN

    def _wake(self, mask: int) -> None:
        self.waitq.notify(mask)

    # --- binding and connecting ---------------------------------------------------------------------
    def bind_abstract(self, name: bytes) -> None:
        if self.addr is not None:
            raise FsError(errno.EINVAL)
        if name in self.registry.abstract:
            raise FsError(errno.EADDRINUSE)
        self.registry.abstract[name] = self
        self.addr = name

    def autobind(self) -> None:
        """Bind to a fresh abstract name of five hex digits (unix_autobind)."""
        if self.addr is not None:
            return
        while True:
            name = b"\0%05x" % (self.registry.next_autobind & 0xFFFFF)
            self.registry.next_autobind += 1
            if name not in self.registry.abstract:
                break
        self.bind_abstract(name)

    def bind_inode(self, key: tuple[int, int], path: bytes) -> None:
        """Bound to a path whose S_IFSOCK inode the caller just created (``key`` = (st_dev, st_ino))."""
        self.registry.by_inode[key] = self
        self.bound_key = key
        self.addr = path

    def listen(self, backlog: int) -> None:
        if not self.connection_oriented:
            raise FsError(errno.EOPNOTSUPP)
        if self.addr is None or self.state not in (UNCONNECTED, LISTENING):
            raise FsError(errno.EINVAL)
        self.backlog = min(max(backlog, 0), 4096) if backlog >= 0 else 4096
        if self.state == UNCONNECTED:
            self.peercred = None
        self.state = LISTENING

    def connect(self, target: UnixSocket, cred: Cred) -> None:
        """Connect to a bound socket found by address; no side effect when it raises."""
        if target.type != self.type:
            raise FsError(errno.EPROTOTYPE)
        if not self.connection_oriented:
            # datagram connect: only sets the default destination (unix_dgram_connect)
            if target.peer is not None and target.peer is not self and not target.peer.dead:
                raise FsError(errno.EPERM)
            if self.passcred and self.addr is None:
                self.autobind()
            self.peer = target
            self.state = CONNECTED
            return
        if self.state == CONNECTED:
            raise FsError(errno.EISCONN)
        if self.state == LISTENING:
            raise FsError(errno.EINVAL)
        if target.state != LISTENING or target.dead:
            raise FsError(errno.ECONNREFUSED)
        if len(target.acceptq) > target.backlog:
            raise FsError(errno.EAGAIN)
        server = UnixSocket(self.type, self.registry, target.cred)
        server.state = CONNECTED
        server.peer = self
        server.addr = target.addr
        server.peercred = cred
        self.peer = server
        self.state = CONNECTED
        self.peercred = target.cred
        if self.passcred and self.addr is None:
            self.autobind()
        target.acceptq.append(server)
        target._wake(select.POLLIN | select.POLLRDNORM)

    def accept(self) -> UnixSocket:
        if not self.connection_oriented:
            raise FsError(errno.EOPNOTSUPP)
        if self.state != LISTENING:
            raise FsError(errno.EINVAL)
        if not self.acceptq:
            raise FsError(errno.EAGAIN)
        return self.acceptq.popleft()

    @staticmethod
    def pair(stype: int, registry: UnixRegistry, cred: Cred) -> tuple[UnixSocket, UnixSocket]:
        a = UnixSocket(stype, registry, cred)
        b = UnixSocket(stype, registry, cred)
        a.peer, b.peer = b, a
        a.state = b.state = CONNECTED
        a.peercred = b.peercred = cred
        return a, b

    # --- data ---------------------------------------------------------------------------------------
    def sendmsg(
        self, data: bytes, rights: list[OpenFile] | None, cred: Cred, dest: UnixSocket | None, flags: int
    ) -> int:
        """Queue ``data`` on the peer (or ``dest`` for an addressed datagram). Returns the bytes sent;
        raises EAGAIN when nothing can be queued now, EPIPE when the peer is gone (the caller raises
        SIGPIPE unless MSG_NOSIGNAL). ``rights`` are taken over only on success."""
        if flags & MSG_OOB:
            raise FsError(errno.EOPNOTSUPP)
        if self.connection_oriented:
            return self._stream_send(data, rights, cred, dest)
        return self._dgram_send(data, rights, cred, dest)

    def _stream_send(self, data: bytes, rights: list[OpenFile] | None, cred: Cred, dest: UnixSocket | None) -> int:
        if dest is not None:
            raise FsError(errno.EISCONN if self.state == CONNECTED else errno.EOPNOTSUPP)
        if self.state != CONNECTED or self.peer is None:
            if self.shutdown & SEND_SHUTDOWN:
                raise FsError(errno.EPIPE)
            raise FsError(errno.ENOTCONN)
        peer = self.peer
        if self.shutdown & SEND_SHUTDOWN or peer.dead or peer.shutdown & RCV_SHUTDOWN:
            raise FsError(errno.EPIPE)
        if self.type == SOCK_SEQPACKET:
            if len(data) > self.sndbuf - 32:
                raise FsError(errno.EMSGSIZE)
            if peer.queued_bytes + len(data) > peer.rcvbuf and peer.recvq:
                raise FsError(errno.EAGAIN)
            n = len(data)
        else:
            room = peer.rcvbuf - peer.queued_bytes
            if room <= 0 and data:
                raise FsError(errno.EAGAIN)
            n = min(len(data), max(room, 0))
            if not data and not rights:
                return 0
        peer.recvq.append(Message(bytes(data[:n]), rights, cred, self.addr or b""))
        peer.queued_bytes += n
        peer._wake(select.POLLIN | select.POLLRDNORM)
        return n

    def _dgram_send(self, data: bytes, rights: list[OpenFile] | None, cred: Cred, dest: UnixSocket | None) -> int:
        if self.shutdown & SEND_SHUTDOWN:
            raise FsError(errno.EPIPE)
        if len(data) > self.sndbuf - 32:
            raise FsError(errno.EMSGSIZE)
        target = dest
        if target is None:
            target = self.peer
            if target is None:
                raise FsError(errno.ENOTCONN)
            if target.dead:
                # unix_dgram_sendmsg: the dead peer is dropped; this send fails, the next is ENOTCONN
                self.peer = None
                self.state = UNCONNECTED
                raise FsError(errno.ECONNREFUSED)
        if target.dead:
            raise FsError(errno.ECONNREFUSED)
        if target.peer is not None and target.peer is not self and not target.peer.dead:
            raise FsError(errno.EPERM)
        if target.shutdown & RCV_SHUTDOWN:
            raise FsError(errno.EPIPE)
        if len(target.recvq) > MAX_DGRAM_QLEN:
            raise FsError(errno.EAGAIN)
        if self.passcred and self.addr is None:
            self.autobind()
        target.recvq.append(Message(bytes(data), rights, cred, self.addr or b""))
        target.queued_bytes += len(data)
        target._wake(select.POLLIN | select.POLLRDNORM)
        return len(data)

    def recvmsg(self, size: int, flags: int) -> Received:
        """Take up to ``size`` bytes (one datagram/record, or a stream run). EAGAIN when nothing is there
        yet and more may come; an empty Received at end of stream."""
        if flags & MSG_OOB:
            raise FsError(errno.EOPNOTSUPP)
        if self.err:
            err, self.err = self.err, 0
            raise FsError(err)
        if self.type == SOCK_STREAM:
            return self._stream_recv(size, flags)
        return self._msg_recv(size, flags)

    def _stream_recv(self, size: int, flags: int) -> Received:
        if self.state != CONNECTED:
            raise FsError(errno.EINVAL)
        if not self.recvq:
            if self.shutdown & RCV_SHUTDOWN or size == 0:
                return Received(b"", None, None, None, 0, 0)
            raise FsError(errno.EAGAIN)
        peek = bool(flags & MSG_PEEK)
        out: list[bytes] = []
        copied = 0
        rights: list[OpenFile] | None = None
        cred: Cred | None = None
        i = 0
        # unix_stream_read_generic: concatenate skbs with the same sender credentials; stop after an
        # skb that carried file descriptors
        while i < len(self.recvq) and copied < size:
            msg = self.recvq[i]
            if cred is not None and msg.cred != cred:
                break
            cred = msg.cred
            avail = len(msg.data) - msg.consumed
            chunk = min(avail, size - copied)
            out.append(msg.data[msg.consumed : msg.consumed + chunk])
            copied += chunk
            if peek:
                if msg.rights:
                    rights = msg.rights
                    break
                i += 1
                continue
            msg.consumed += chunk
            self.queued_bytes -= chunk
            if msg.rights:
                rights, msg.rights = msg.rights, None
            if msg.consumed < len(msg.data):
                break
            self.recvq.popleft()
            if rights:
                break
        if not peek and self.peer is not None:
            self.peer._wake(select.POLLOUT | select.POLLWRNORM)
        return Received(b"".join(out), rights, cred, None, 0, copied)

    def _msg_recv(self, size: int, flags: int) -> Received:
        if self.type == SOCK_SEQPACKET and self.state != CONNECTED:
            raise FsError(errno.ENOTCONN)
        if not self.recvq:
            if self.shutdown & RCV_SHUTDOWN:
                return Received(b"", None, None, None, 0, 0)
            raise FsError(errno.EAGAIN)
        msg = self.recvq[0]
        data = msg.data
        mflags = MSG_TRUNC if len(data) > size else 0
        rights = msg.rights
        if not flags & MSG_PEEK:
            self.recvq.popleft()
            self.queued_bytes -= len(data)
            msg.rights = None
            if self.type == SOCK_DGRAM:
                # a sender waiting for queue room (any socket that may send here) is woken
                self._wake(select.POLLOUT | select.POLLWRNORM)
            if self.peer is not None:
                self.peer._wake(select.POLLOUT | select.POLLWRNORM)
        return Received(data[:size], rights, msg.cred, msg.sender, mflags, len(data))

    def shutdown_(self, how: int) -> None:
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise FsError(errno.EINVAL)
        mode = how + 1  # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, SHUT_RDWR -> both
        if self.connection_oriented and self.state != CONNECTED:
            raise FsError(errno.ENOTCONN)
        self.shutdown |= mode
        self._wake(select.POLLIN | select.POLLOUT | select.POLLHUP)
        peer = self.peer
        if peer is not None and self.connection_oriented:
            peer_mode = 0
            if mode & RCV_SHUTDOWN:
                peer_mode |= SEND_SHUTDOWN
            if mode & SEND_SHUTDOWN:
                peer_mode |= RCV_SHUTDOWN
            peer.shutdown |= peer_mode
            peer._wake(select.POLLIN | select.POLLOUT | select.POLLHUP | POLLRDHUP)

    # --- FileOps: read(2)/write(2) on a socket -----------------------------------------------------------
    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        got = self.recvmsg(size, 0)
        _release_rights(got.rights)
        return got.data

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        # the caller supplies credentials through sendmsg; plain write(2) uses the socket's creator's
        return self.sendmsg(data, None, self.cred, None, 0)

    def release(self, file: OpenFile | None) -> None:
        """unix_release_sock: the last close."""
        self.dead = True
        old_state = self.state
        self.state = CLOSED
        self.shutdown = SHUTDOWN_MASK
        reg = self.registry
        if self.bound_key is not None and reg.by_inode.get(self.bound_key) is self:
            del reg.by_inode[self.bound_key]
        if self.addr and self.addr[:1] == b"\0" and reg.abstract.get(self.addr) is self:
            del reg.abstract[self.addr]
        peer = self.peer
        if peer is not None:
            if self.connection_oriented:
                peer.shutdown = SHUTDOWN_MASK
                if self.recvq or old_state != CONNECTED:
                    peer.err = errno.ECONNRESET
                peer._wake(select.POLLIN | select.POLLOUT | select.POLLHUP | POLLRDHUP)
            else:
                peer._wake(select.POLLOUT)
            self.peer = None
        while self.recvq:
            _release_rights(self.recvq.popleft().rights)
        self.queued_bytes = 0
        while self.acceptq:
            embryo = self.acceptq.popleft()
            embryo.release(None)
        self._wake(select.POLLIN | select.POLLOUT | select.POLLHUP)

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: Any) -> int:
        import struct

        FIONREAD = 0x541B
        SIOCOUTQ = 0x5411
        if request == FIONREAD:
            if self.state == LISTENING:
                raise FsError(errno.EINVAL)
            n = self.queued_bytes if self.type == SOCK_STREAM else len(self.recvq[0].data) if self.recvq else 0
            mem.write(arg, struct.pack("<i", n))
            return 0
        if request == SIOCOUTQ:
            mem.write(arg, struct.pack("<i", 0))
            return 0
        raise FsError(errno.ENOTTY)


def sockaddr_un(addr: bytes | None) -> bytes:
    """The struct sockaddr_un bytes that getsockname/accept/recvfrom report (unix_getname): the
    family alone for an unnamed socket, else family + path + NUL for a path (length includes it)."""
    if not addr:
        return AF_UNIX.to_bytes(2, "little")
    if addr[:1] == b"\0":
        return AF_UNIX.to_bytes(2, "little") + addr
    return AF_UNIX.to_bytes(2, "little") + addr + b"\0"


def parse_sockaddr_un(raw: bytes) -> bytes:
    """The address in a struct sockaddr_un given to bind/connect/sendto (unix_validate_addr /
    unix_mkname): b"" for autobind (family only), b"\\0name" for abstract, the path otherwise."""
    if len(raw) < 2 or len(raw) > SOCKADDR_UN_SIZE:
        raise FsError(errno.EINVAL)
    if int.from_bytes(raw[:2], "little") != AF_UNIX:
        raise FsError(errno.EINVAL)
    path = raw[2:]
    if not path:
        return b""
    if path[:1] == b"\0":
        return bytes(path)
    nul = path.find(b"\0")
    if nul >= 0:
        path = path[:nul]
    return bytes(path)


# -- syscalls ---------------------------------------------------------------------------------------------------

ESOCKTNOSUPPORT = 94
SOCK_TYPE_MASK = 0xF


def _sock_of(task: Task, fd: int) -> tuple[OpenFile, UnixSocket]:
    f = get_file(task, fd)
    if not isinstance(f.ops, UnixSocket):
        raise FsError(errno.ENOTSOCK)
    return f, f.ops


def _cred(task: Task, effective: bool = False) -> Cred:
    c = task.process.creds
    return (task.process.pid, c.euid, c.egid) if effective else (task.process.pid, c.uid, c.gid)


def _new_file(task: Task, sock: UnixSocket, flags: int) -> OpenFile:
    oflags = os.O_RDWR | (os.O_NONBLOCK if flags & SOCK_NONBLOCK else 0)
    return files_of(task).ns.open_anon(ctx_of(task), stat.S_IFSOCK | 0o777, oflags, sock, b"socket:[%d]")


def _check_type(domain: int, stype: int, protocol: int) -> int:
    if domain != AF_UNIX:
        raise FsError(errno.EAFNOSUPPORT)
    if stype & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise FsError(errno.EINVAL)
    base = stype & SOCK_TYPE_MASK
    if protocol not in (0, AF_UNIX):
        raise FsError(errno.EPROTONOSUPPORT)
    if base not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise FsError(ESOCKTNOSUPPORT)
    return base


@syscall("socket", "int", "hex", "int")
def sys_socket(task: Task, domain: int, stype: int, protocol: int) -> int:
    stype = s32(stype)
    base = _check_type(s32(domain), stype, s32(protocol))
    sock = UnixSocket(base, files_of(task).unix, _cred(task, True))
    return fdtable_of(task).install(_new_file(task, sock, stype), bool(stype & SOCK_CLOEXEC))


@syscall("socketpair", "int", "hex", "int", "ptr")
def sys_socketpair(task: Task, domain: int, stype: int, protocol: int, sv: int) -> int:
    stype = s32(stype)
    base = _check_type(s32(domain), stype, s32(protocol))
    task.write(sv, bytes(8))
    a, b = UnixSocket.pair(base, files_of(task).unix, _cred(task, True))
    install_pair(task, _new_file(task, a, stype), _new_file(task, b, stype), bool(stype & SOCK_CLOEXEC), sv)
    return 0


def _read_addr(task: Task, addr: int, addrlen: int) -> bytes:
    n = s32(addrlen)
    if n < 0 or n > SOCKADDR_UN_SIZE:
        raise FsError(errno.EINVAL)
    return parse_sockaddr_un(task.read(addr, n))


def _lookup(task: Task, addr: bytes, stype: int) -> UnixSocket:
    """unix_find_other: an abstract name, or a path naming a bound S_IFSOCK inode we may write."""
    reg = files_of(task).unix
    if addr[:1] == b"\0":
        target = reg.abstract.get(addr)
        if target is None:
            raise FsError(errno.ECONNREFUSED)
        return target
    ctx = ctx_of(task)
    loc, attr = files_of(task).ns.resolve(ctx, None, addr)
    inode_permission(loc.mount, attr, ctx.creds, MAY_WRITE)
    if not stat.S_ISSOCK(attr.mode):
        raise FsError(errno.ECONNREFUSED)
    sock = reg.by_inode.get((loc.mount.dev, loc.ino))
    if sock is None or sock.dead:
        raise FsError(errno.ECONNREFUSED)
    if sock.type != stype:
        raise FsError(errno.EPROTOTYPE)
    return sock


@syscall("bind", "fd", "ptr", "int")
def sys_bind(task: Task, fd: int, addr: int, addrlen: int) -> int:
    _f, sock = _sock_of(task, fd)
    a = _read_addr(task, addr, addrlen)
    if not a:
        if sock.addr is not None:
            raise FsError(errno.EINVAL)
        sock.autobind()
        return 0
    if a[:1] == b"\0":
        sock.bind_abstract(a)
        return 0
    ns = files_of(task).ns
    ctx = ctx_of(task)
    # unix_bind_bsd: the node is made first (EADDRINUSE if the name exists), then an already bound
    # socket is EINVAL and the new node is removed again
    try:
        ns.mknodat(ctx, None, a, stat.S_IFSOCK | 0o777)
    except FsError as exc:
        if exc.errno == errno.EEXIST:
            raise FsError(errno.EADDRINUSE) from None
        raise
    if sock.addr is not None:
        ns.unlinkat(ctx, None, a, 0)
        raise FsError(errno.EINVAL)
    st = ns.fstatat(ctx, None, a, AT_SYMLINK_NOFOLLOW)
    sock.bind_inode((st.st_dev, st.st_ino), a)
    return 0


@syscall("listen", "fd", "int")
def sys_listen(task: Task, fd: int, backlog: int) -> int:
    _f, sock = _sock_of(task, fd)
    sock.listen(s32(backlog))
    return 0


@syscall("connect", "fd", "ptr", "int")
def sys_connect(task: Task, fd: int, addr: int, addrlen: int) -> int:
    f, sock = _sock_of(task, fd)
    raw_len = s32(addrlen)
    if raw_len < 2:
        raise FsError(errno.EINVAL)
    a = _read_addr(task, addr, addrlen)
    if not a:
        raise FsError(errno.EINVAL)
    target = _lookup(task, a, sock.type)
    try:
        sock.connect(target, _cred(task, True))
    except FsError as exc:
        if exc.errno == errno.EAGAIN and not f.flags & os.O_NONBLOCK:
            raise Block([target.waitq, sock.waitq]) from None
        raise
    return 0


def _put_addr(task: Task, addr: int, lenp: int, raw: bytes) -> None:
    if not addr and not lenp:
        return
    n = s32(task.read_u32(lenp))
    if n < 0:
        raise FsError(errno.EINVAL)
    if raw:
        task.write(addr, raw[:n])
    task.write_u32(lenp, len(raw))


@syscall("accept", "fd", "ptr", "ptr")
def sys_accept(task: Task, fd: int, addr: int, lenp: int) -> int:
    return sys_accept4(task, fd, addr, lenp, 0)


@syscall("accept4", "fd", "ptr", "ptr", "hex")
def sys_accept4(task: Task, fd: int, addr: int, lenp: int, flags: int) -> int:
    flags = s32(flags)
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise FsError(errno.EINVAL)
    f, sock = _sock_of(task, fd)
    if lenp:
        task.read_u32(lenp)
    new = blocking(task, f, sock.accept)
    file = _new_file(task, new, flags)
    newfd = fdtable_of(task).install(file, bool(flags & SOCK_CLOEXEC))
    peer = new.peer
    _put_addr(task, addr, lenp, sockaddr_un(peer.addr if peer is not None else None))
    return newfd


@syscall("getsockname", "fd", "ptr", "ptr")
def sys_getsockname(task: Task, fd: int, addr: int, lenp: int) -> int:
    _f, sock = _sock_of(task, fd)
    _put_addr(task, addr, lenp, sockaddr_un(sock.addr))
    return 0


@syscall("getpeername", "fd", "ptr", "ptr")
def sys_getpeername(task: Task, fd: int, addr: int, lenp: int) -> int:
    _f, sock = _sock_of(task, fd)
    peer = sock.peer
    if peer is None or sock.state != CONNECTED:
        raise FsError(errno.ENOTCONN)
    _put_addr(task, addr, lenp, sockaddr_un(peer.addr))
    return 0


@syscall("shutdown", "fd", "int")
def sys_shutdown(task: Task, fd: int, how: int) -> int:
    _f, sock = _sock_of(task, fd)
    sock.shutdown_(s32(how))
    return 0


def _rights_from_control(task: Task, control: bytes) -> tuple[list[OpenFile] | None, Cred | None]:
    try:
        cmsgs = unpack_cmsgs(control)
    except ValueError:
        raise FsError(errno.EINVAL) from None
    rights: list[OpenFile] = []
    cred: Cred | None = None
    table = fdtable_of(task)
    try:
        for level, ctype, data in cmsgs:
            if level != SOL_SOCKET:
                continue
            if ctype == SCM_RIGHTS:
                fds = [int.from_bytes(data[i : i + 4], "little", signed=True) for i in range(0, len(data) - 3, 4)]
                if not fds or len(rights) + len(fds) > SCM_MAX_FD:
                    raise FsError(errno.EINVAL)
                for fd in fds:
                    rights.append(table.get(fd).get())
            elif ctype == SCM_CREDENTIALS:
                if len(data) < UCRED.size:
                    raise FsError(errno.EINVAL)
                pid, uid, gid = UCRED.unpack_from(data)
                c = task.process.creds
                if c.euid != 0 and (
                    pid != task.process.pid or uid not in (c.uid, c.euid) or gid not in (c.gid, c.egid)
                ):
                    raise FsError(errno.EPERM)
                cred = (pid, uid, gid)
            else:
                raise FsError(errno.EINVAL)
    except BaseException:
        for r in rights:
            r.close()
        raise
    return rights or None, cred


def _send(task: Task, fd: int, data: bytes, flags: int, dest_addr: bytes | None, control: bytes) -> int:
    f, sock = _sock_of(task, fd)
    dest = None
    if dest_addr is not None and dest_addr != b"":
        if sock.connection_oriented:
            raise FsError(errno.EISCONN if sock.state == CONNECTED else errno.EOPNOTSUPP)
        dest = _lookup(task, dest_addr, sock.type)
    rights, cred = _rights_from_control(task, control) if control else (None, None)
    try:
        n = sock.sendmsg(data, rights, cred or _cred(task), dest, flags)
    except FsError as exc:
        _release_rights(rights)
        if exc.errno == errno.EAGAIN and not (flags & MSG_DONTWAIT or f.flags & os.O_NONBLOCK):
            target = dest or sock.peer
            queues = [sock.waitq] + ([target.waitq] if target is not None else [])
            raise Block(queues) from None
        if exc.errno == errno.EPIPE and not flags & MSG_NOSIGNAL:
            sigpipe(task)
        raise
    return n


@syscall("sendto", "fd", "ptr", "size", "hex", "ptr", "int")
def sys_sendto(task: Task, fd: int, buf: int, length: int, flags: int, addr: int, addrlen: int) -> int:
    _sock_of(task, fd)
    data = task.read(buf, min(length, MAX_RW))
    dest = _read_addr(task, addr, addrlen) if addr else None
    return _send(task, fd, data, s32(flags), dest, b"")


@syscall("sendmsg", "fd", "ptr", "hex")
def sys_sendmsg(task: Task, fd: int, msg: int, flags: int) -> int:
    _sock_of(task, fd)
    name, namelen, iov, iovlen, control, controllen, _mflags = MSGHDR.unpack(task.read(msg, MSGHDR.size))
    data = _gather(task, _iovecs(task, iov, iovlen))
    dest = _read_addr(task, name, namelen) if name and namelen else None
    ctl = task.read(control, controllen) if control and controllen else b""
    if controllen > 1 << 20:
        raise FsError(errno.ENOBUFS)
    return _send(task, fd, data, s32(flags), dest, ctl)


@syscall("sendmmsg", "fd", "ptr", "int", "hex")
def sys_sendmmsg(task: Task, fd: int, vec: int, vlen: int, flags: int) -> int:
    sent = 0
    for i in range(min(s32(vlen), 1024)):
        try:
            n = sys_sendmsg(task, fd, vec + i * MMSGHDR_SIZE, flags)
        except (FsError, Block):
            if sent:
                break
            raise
        task.write_u32(vec + i * MMSGHDR_SIZE + MSGHDR.size, n)
        sent += 1
    return sent


def _recv(task: Task, fd: int, size: int, flags: int) -> Received:
    f, sock = _sock_of(task, fd)
    nonblock = bool(flags & MSG_DONTWAIT)
    waitall = flags & MSG_WAITALL and sock.type == SOCK_STREAM and not flags & MSG_PEEK
    if waitall and not nonblock and not f.flags & os.O_NONBLOCK:
        return _recv_waitall(task, sock, f, fd, size, flags & ~MSG_WAITALL)
    return blocking(task, f, lambda: sock.recvmsg(size, flags), nonblock)


def _recv_waitall(task: Task, sock: UnixSocket, f: OpenFile, fd: int, size: int, flags: int) -> Received:
    """MSG_WAITALL on a stream: wait until ``size`` bytes came, the stream ended, or file descriptors
    arrived (unix_stream_read_generic); what was read is kept across the parked syscall's re-executions."""
    key = (fd, size, flags)
    progress = getattr(task, "recv_progress", None)
    acc, cred = progress[1] if task.restarting and progress is not None and progress[0] == key else (b"", None)
    task.recv_progress = None  # type: ignore[attr-defined]
    rights = None
    while len(acc) < size:
        try:
            got = sock.recvmsg(size - len(acc), flags)
        except FsError as exc:
            if exc.errno == errno.EAGAIN:
                task.recv_progress = (key, (acc, cred))  # type: ignore[attr-defined]
                raise block_on(task, [f]) from None
            if acc:
                break
            raise
        if not got.data and not got.rights:
            break
        acc += got.data
        cred = cred or got.cred
        if got.rights:
            rights = got.rights
            break
    return Received(acc, rights, cred, None, 0, len(acc))


def _sender_addr(got: Received) -> bytes:
    # unix_copy_addr: nothing (namelen 0) for an unnamed sender
    return sockaddr_un(got.sender) if got.sender else b""


@syscall("recvfrom", "fd", "ptr", "size", "hex", "ptr", "ptr")
def sys_recvfrom(task: Task, fd: int, buf: int, length: int, flags: int, addr: int, lenp: int) -> int:
    flags = s32(flags)
    got = _recv(task, fd, min(length, MAX_RW), flags)
    _release_rights(got.rights)
    if got.data:
        task.write(buf, got.data)
    if addr and lenp:
        _put_addr(task, addr, lenp, _sender_addr(got))
    if flags & MSG_TRUNC and got.flags & MSG_TRUNC:
        return got.full_len
    return len(got.data)


def _control_out(task: Task, got: Received, sock: UnixSocket, space: int, flags: int) -> tuple[bytes, int]:
    """The control messages recvmsg returns (scm_recv: credentials, then rights) within ``space``
    bytes, and MSG_CTRUNC if something did not fit (rights that do not fit are closed)."""
    out = b""
    mflags = 0
    if sock.passcred and got.cred is not None:
        msg = pack_cmsg(SOL_SOCKET, SCM_CREDENTIALS, UCRED.pack(*got.cred))
        if len(out) + CMSGHDR.size + UCRED.size <= space:
            out += msg[: min(len(msg), space - len(out))]
        else:
            mflags |= MSG_CTRUNC
    if got.rights:
        room = (space - len(out) - CMSGHDR.size) // 4 if space - len(out) > CMSGHDR.size else 0
        keep, drop = got.rights[:room], got.rights[room:]
        if drop:
            mflags |= MSG_CTRUNC
            _release_rights(drop)
        if keep:
            table = fdtable_of(task)
            fds = [table.install(r, bool(flags & MSG_CMSG_CLOEXEC)) for r in keep]
            data = b"".join(fd.to_bytes(4, "little") for fd in fds)
            msg = pack_cmsg(SOL_SOCKET, SCM_RIGHTS, data)
            out += msg[: min(len(msg), space - len(out))]
    return out, mflags


@syscall("recvmsg", "fd", "ptr", "hex")
def sys_recvmsg(task: Task, fd: int, msg: int, flags: int) -> int:
    flags = s32(flags)
    _f, sock = _sock_of(task, fd)
    name, namelen, iov, iovlen, control, controllen, _mflags = MSGHDR.unpack(task.read(msg, MSGHDR.size))
    vecs = _iovecs(task, iov, iovlen)
    size = min(sum(n for _, n in vecs), MAX_RW)
    got = _recv(task, fd, size, flags)
    _scatter(task, vecs, got.data)
    mflags = got.flags
    ctl, cflags = _control_out(task, got, sock, controllen if control else 0, flags)
    mflags |= cflags
    if ctl:
        task.write(control, ctl)
    if name:
        raw = _sender_addr(got)
        n = min(len(raw), namelen)
        if n:
            task.write(name, raw[:n])
        namelen = len(raw)
    # write back msg_namelen, msg_controllen and msg_flags
    task.write(msg + 8, namelen.to_bytes(4, "little"))
    task.write(msg + 40, len(ctl).to_bytes(8, "little"))
    task.write(msg + MSGHDR_FLAGS_OFFSET, mflags.to_bytes(4, "little"))
    if flags & MSG_TRUNC and got.flags & MSG_TRUNC:
        return got.full_len
    return len(got.data)


@syscall("recvmmsg", "fd", "ptr", "int", "hex", "ptr")
def sys_recvmmsg(task: Task, fd: int, vec: int, vlen: int, flags: int, timeout: int) -> int:
    got = 0
    for i in range(min(s32(vlen), 1024)):
        try:
            n = sys_recvmsg(task, fd, vec + i * MMSGHDR_SIZE, flags if not got else flags | MSG_DONTWAIT)
        except (FsError, Block):
            if got:
                break
            raise
        task.write_u32(vec + i * MMSGHDR_SIZE + MSGHDR.size, n)
        got += 1
    return got


_INT_OPTS = {SO_TYPE, SO_ERROR, SO_ACCEPTCONN, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_REUSEADDR, SO_KEEPALIVE,
             SO_DOMAIN, SO_PROTOCOL, SO_BROADCAST, SO_DEBUG, SO_DONTROUTE, SO_OOBINLINE, SO_RCVLOWAT,
             SO_SNDLOWAT, SO_SNDBUFFORCE, SO_RCVBUFFORCE}  # fmt: skip


@syscall("getsockopt", "fd", "int", "int", "ptr", "ptr")
def sys_getsockopt(task: Task, fd: int, level: int, opt: int, val: int, lenp: int) -> int:
    _f, sock = _sock_of(task, fd)
    level, opt = s32(level), s32(opt)
    n = s32(task.read_u32(lenp))
    if n < 0:
        raise FsError(errno.EINVAL)
    if level != SOL_SOCKET:
        raise FsError(errno.EOPNOTSUPP)
    value: bytes
    if opt == SO_PEERCRED:
        value = UCRED.pack(*(sock.peercred or NO_CRED))
    elif opt in (SO_LINGER,):
        value = bytes(8)
    elif opt in (SO_RCVTIMEO, SO_SNDTIMEO):
        value = bytes(16)
    elif opt in _INT_OPTS:
        if opt == SO_ERROR:
            v, sock.err = sock.err, 0
        else:
            v = {
                SO_TYPE: sock.type,
                SO_ACCEPTCONN: int(sock.state == LISTENING),
                SO_SNDBUF: sock.sndbuf,
                SO_RCVBUF: sock.rcvbuf,
                SO_PASSCRED: int(sock.passcred),
                SO_DOMAIN: AF_UNIX,
                SO_PROTOCOL: 0,
                SO_RCVLOWAT: 1,
                SO_SNDLOWAT: 1,
            }.get(opt, getattr(sock, f"opt_{opt}", 0))
        value = v.to_bytes(4, "little", signed=True)
    else:
        raise FsError(errno.ENOPROTOOPT)
    out = value[:n]
    task.write(val, out)
    task.write_u32(lenp, len(out))
    return 0


@syscall("setsockopt", "fd", "int", "int", "ptr", "int")
def sys_setsockopt(task: Task, fd: int, level: int, opt: int, val: int, optlen: int) -> int:
    _f, sock = _sock_of(task, fd)
    level, opt, n = s32(level), s32(opt), s32(optlen)
    if level != SOL_SOCKET:
        raise FsError(errno.EOPNOTSUPP)
    if n < 0:
        raise FsError(errno.EINVAL)
    if opt in (SO_LINGER, SO_RCVTIMEO, SO_SNDTIMEO):
        task.read(val, n)
        return 0
    if opt not in _INT_OPTS or opt in (SO_TYPE, SO_ERROR, SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL, SO_PEERCRED):
        raise FsError(errno.ENOPROTOOPT)
    if n < 4:
        raise FsError(errno.EINVAL)
    v = int.from_bytes(task.read(val, 4), "little", signed=True)
    if opt in (SO_SNDBUF, SO_SNDBUFFORCE):
        sock.sndbuf = max(min(v, SOCK_BUF_DEFAULT) * 2, 4608)
    elif opt in (SO_RCVBUF, SO_RCVBUFFORCE):
        sock.rcvbuf = max(min(v, SOCK_BUF_DEFAULT) * 2, 2304)
    elif opt == SO_PASSCRED:
        sock.passcred = bool(v)
    else:
        setattr(sock, f"opt_{opt}", int(bool(v)))
    return 0
