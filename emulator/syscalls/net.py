"""AF_UNIX sockets (stream, datagram, seqpacket; path, abstract and unnamed addresses; SCM_RIGHTS and
SCM_CREDENTIALS) as FileOps, and the socket syscalls on top of them (net/unix/af_unix.c semantics).

Other families give EAFNOSUPPORT. Blocking follows interfaces.FileOps: an operation that cannot proceed
raises FsError(EAGAIN) without side effects, the syscall layer parks the task on ``waitq``.
"""

from __future__ import annotations

import errno
import select
import socket as pysocket
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps

if TYPE_CHECKING:
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
