"""The FUSE adapter: a VFS Namespace on a host mount point through libfuse3's low-level API (ctypes;
struct layouts and the library handle from mfusepy).

Every FUSE request is one VFS call, the same Namespace/OpenFile/inode methods the emulator's syscalls
use, made with the caller's credentials: fsuid and fsgid from the request, supplementary groups from
/proc/PID/status (read only for non-root callers; root's groups decide nothing). Errors become -errno
in one place (``FuseAdapter._guard``).

Why the low-level API: FUSE node ids here are inodes, (mount, ino) -> node id, so hard links are one
kernel inode (a change through one name is seen through the others at once) and fstat/ftruncate of an
unlinked open file reach its OpenFile. libfuse's high-level API numbers nodes per path, which gives
neither (stale attributes through other links, ESTALE after unlink). Open files and directories are VFS
OpenFiles indexed by the FUSE file handle, so unlink and rename while open behave as on Linux and no
``.fuse_hidden`` files exist.

A request whose target is a name in a directory runs with the directory as the context's cwd and the
name as a relative path (openat(AT_FDCWD, name)); a request on a node itself uses AT_EMPTY_PATH.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from ctypes import POINTER, c_char_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mfusepy import c_stat, c_statvfs, fuse_conn_info

from lxfs.fuse_lowlevel import (
    FUSE_CAP_ATOMIC_O_TRUNC,
    FUSE_CAP_HANDLE_KILLPRIV,
    FUSE_ROOT_ID,
    FUSE_SET_ATTR_ATIME,
    FUSE_SET_ATTR_ATIME_NOW,
    FUSE_SET_ATTR_GID,
    FUSE_SET_ATTR_MODE,
    FUSE_SET_ATTR_MTIME,
    FUSE_SET_ATTR_MTIME_NOW,
    FUSE_SET_ATTR_SIZE,
    FUSE_SET_ATTR_UID,
    LL_OPS,
    EntryParam,
    FuseArgs,
    FuseBuf,
    LowlevelOps,
    add_direntry,
    add_direntry_plus,
    fuse_opt_free_args,
    fuse_remove_signal_handlers,
    fuse_req_ctx,
    fuse_session_destroy,
    fuse_session_exited,
    fuse_session_fd,
    fuse_session_mount,
    fuse_session_new,
    fuse_session_process_buf,
    fuse_session_unmount,
    fuse_set_signal_handlers,
    reply_buf,
    reply_err,
    reply_lseek,
    reply_none,
    reply_open,
    reply_readlink,
    reply_statfs,
    reply_write,
    reply_xattr,
)
from lxfs.idmap import IdMapping
from lxfs.linux import AT_EACCESS, AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, UTIME_NOW, UTIME_OMIT
from lxfs.vfs import inode
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import OpenFile
from lxfs.vfs.interfaces import Attr
from lxfs.vfs.stat import Stat

if TYPE_CHECKING:
    from lxfs.vfs.namespace import Location, Mount, Namespace

log = logging.getLogger(__name__)

FMODE_EXEC = 0o40  # include/linux/fs.h __FMODE_EXEC: the open(2) execve makes
RENAME_EXCHANGE = 2  # include/uapi/linux/fs.h
_DIRENT_BATCH = 1 << 16  # bytes of linux_dirent64 records fetched from the VFS per readdir step
# The hot replies (GETATTR, LOOKUP, CREATE) are packed here and sent with fuse_reply_buf: one struct.pack
# instead of filling a struct stat field by field through ctypes for libfuse to convert (its convert_stat).
# include/uapi/linux/fuse.h: fuse_attr_out = attr_valid, attr_valid_nsec, dummy, fuse_attr; fuse_entry_out =
# nodeid, generation, entry_valid, attr_valid, entry_valid_nsec, attr_valid_nsec, fuse_attr; fuse_open_out =
# fh, open_flags, padding. fuse_attr = ino, size, blocks, atime, mtime, ctime (s64 seconds), their nsecs,
# mode, nlink, uid, gid, rdev, blksize, flags.
_FUSE_ATTR = "QQQqqqIIIIIIIIII"
_ENTRY_OUT = struct.Struct("=QQQQII" + _FUSE_ATTR)
_ATTR_HEAD = struct.Struct("=QII")  # fuse_attr_out before its fuse_attr: attr_valid, attr_valid_nsec, dummy
_ENTRY_HEAD = struct.Struct("=QQQQII")  # fuse_entry_out before its fuse_attr: nodeid ... attr_valid_nsec
_ATTR = struct.Struct("=" + _FUSE_ATTR)
_OPEN_OUT = struct.Struct("=QII")
# The requests read straight from /dev/fuse (FuseAdapter.direct): fuse_in_header = len, opcode, unique,
# nodeid, uid, gid, pid, total_extlen, padding; fuse_out_header = len, error, unique.
_IN_HEADER = struct.Struct("=IIQQIIIHH")
_OUT_HEADER = struct.Struct("=IiQ")
_GETATTR_IN = struct.Struct("=IIQ")  # getattr_flags, dummy, fh
_CREATE_IN = struct.Struct("=IIII")  # flags, mode, umask, open_flags (protocol 7.12+)
_U64 = struct.Struct("=Q")  # fuse_forget_in.nlookup, fuse_release_in.fh
_FORGET_ONE = struct.Struct("=QQ")  # nodeid, nlookup (after fuse_batch_forget_in: count, dummy)
FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_UNLINK, FUSE_RELEASE = 1, 2, 3, 10, 18
FUSE_CREATE, FUSE_INTERRUPT, FUSE_BATCH_FORGET = 35, 36, 42
FUSE_GETATTR_FH = 1
_INO_BITS = 48  # inodes of filesystems other than the image's: minor of their guest st_dev << 48 | ino (_ino)
_INO_MASK = (1 << _INO_BITS) - 1
_COMPAT_ATTR_OUT_SIZE = 96  # protocol minor < 9: fuse_attr without blksize and padding
_COMPAT_ENTRY_OUT_SIZE = 120
FOPEN_NOFLUSH = 1 << 5
# Requests that check no permission (the kernel did, or there is nothing to check): no credentials to set.
_NO_CREDS = frozenset(
    {"getattr", "flush", "release", "releasedir", "read", "readdir", "fsync", "fsyncdir", "statfs", "lseek"}
)


_EIO_TEXT = os.strerror(errno.EIO)


def _failure(what: str, exc: Exception) -> int:
    """The errno a FUSE request that raised ``exc`` answers: FsError -> its errno, the one conversion at
    the FUSE boundary; anything else is a bug, logged, and EIO. An EIO that says why (the image is
    corrupt, locked too long) is logged too: the process that gets it sees only "Input/output error".
    Call it inside the ``except`` block."""
    if isinstance(exc, FsError):
        if exc.errno == errno.EIO and exc.strerror != _EIO_TEXT:
            log.warning("FUSE %s: %s", what, exc.strerror)
        return exc.errno or errno.EIO
    log.exception("FUSE %s failed", what)
    return errno.EIO


class MountError(Exception):
    """A mount that cannot be made or served; the message is one line for the user."""


@dataclass(slots=True)
class MountOptions:
    """How the namespace is shown on the host (DESIGN.md "FUSE" gives the measured choices)."""

    readonly: bool = False
    allow_other: bool = True  # other users see the mount (root may always ask for it)
    attr_timeout: float = 1.0
    entry_timeout: float = 1.0
    fsname: str = "lxfs"
    debug: bool = False
    # `lxfs mount`'s server polls /dev/fuse this long after each request before it sleeps (FuseSession.loop
    # says why); -o poll_us=0 sleeps at once. The server inside `lxfs run --mount` never polls.
    poll_us: int = 200
    # Guest ids as host ids (`--uid-map`/`--gid-map`/`--as-guest`); None shows them unchanged.
    ids: IdMapping | None = None

    def args(self) -> list[bytes]:
        fsname = self.fsname.replace("\\", "\\\\").replace(",", "\\,")  # fuse_opt's escaping
        opts = ["default_permissions", f"fsname={fsname}", "subtype=lxfs"]
        if self.allow_other:
            opts.append("allow_other")
        if self.readonly:
            opts.append("ro")
        out = [b"lxfs", b"-o", ",".join(opts).encode()]
        if self.debug:
            out.append(b"-d")
        return out


def _groups_of(pid: int) -> tuple[int, ...]:
    """The supplementary groups of host process ``pid`` (a FUSE request carries only fsuid/fsgid)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Groups:"):
                    return tuple(int(g) for g in line.split()[1:])
    except OSError:
        pass  # the caller already exited: its primary group only, like a process after setgroups([])
    return ()


def _fill_stat(st: c_stat, s: Stat) -> None:
    """Copy a VFS Stat into a struct stat (hot path: plain attribute stores)."""
    st.st_ino = s.st_ino
    st.st_mode = s.st_mode
    st.st_nlink = s.st_nlink
    st.st_uid = s.st_uid
    st.st_gid = s.st_gid
    st.st_rdev = s.st_rdev
    st.st_size = s.st_size
    st.st_blksize = s.st_blksize
    st.st_blocks = s.st_blocks
    st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec = divmod(s.st_atime_ns, 1_000_000_000)
    st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec = divmod(s.st_mtime_ns, 1_000_000_000)
    st.st_ctimespec.tv_sec, st.st_ctimespec.tv_nsec = divmod(s.st_ctime_ns, 1_000_000_000)


Name = tuple["Location", bytes]  # (directory, name): one of the kernel's dentries


class _Node:
    """What the kernel holds a reference to: an inode, its lookup count and the names the kernel
    reached it by (its dentries), used to reopen it as open(2) would."""

    __slots__ = ("cache_key", "loc", "names", "nlookup")

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self.names: list[Name] = []
        self.nlookup = 0
        self.cache_key: tuple[int, int] | None = None  # (mtime, size) at the last open: auto_cache


class FuseAdapter:
    """libfuse3 low-level callbacks over a Namespace. Each ``op_*`` method has the C signature of its
    fuse_lowlevel_ops slot after the request; it replies itself as its LAST step, so that ``_guard``
    can reply with the error of anything raised before."""

    def __init__(
        self,
        ns: Namespace,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        options: MountOptions | None = None,
        on_init: Callable[[], None] | None = None,
    ) -> None:
        self.ns = ns
        self.lock = lock or contextlib.nullcontext()
        self.options = options or MountOptions()
        self.on_init = on_init
        # The kernel applied the caller's umask already (no FUSE_CAP_DONT_MASK): umask 0 here.
        self.ctx = ns.context(Credentials.root(), umask=0)
        self._creds: dict[tuple[int, int, tuple[int, ...]], Credentials] = {}
        self._ids = self.options.ids
        self._creators: dict[tuple[int, int, tuple[int, ...]], bool] = {}  # with _ids: may the caller create
        self._may_create = True
        root = _Node(ns.root)
        root.nlookup = 1 << 62  # never forgotten
        self.nodes: dict[int, _Node] = {FUSE_ROOT_ID: root}
        self.by_loc: dict[Location, int] = {ns.root: FUSE_ROOT_ID}
        self.by_name: dict[Name, int] = {}
        self._next_id = FUSE_ROOT_ID + 1
        self.files: list[OpenFile | None] = []
        self._free: list[int] = []
        self._keep: list[Any] = []  # the ctypes callbacks must outlive the session
        self._entry = EntryParam()
        self._stat = c_stat()
        self._attr_size = _ATTR_HEAD.size + _ATTR.size  # the kernel's, set at INIT
        self._entry_size = _ENTRY_OUT.size
        self._attr_valid = _timeout(self.options.attr_timeout)
        self._entry_valid = _timeout(self.options.entry_timeout)
        self._dirbuf = ctypes.create_string_buffer(0)
        self._negative_entry = self._negative()
        self._root_fs = ns.root.mount.fs  # its inode numbers are shown as they are (_ino)
        self._direct_ok = False  # until INIT (which libfuse answers) told the protocol version
        self._direct: dict[int, Callable[[memoryview, int, int, int, int, int], bytes | None]] = {
            FUSE_LOOKUP: self._direct_lookup,
            FUSE_GETATTR: self._direct_getattr,
            FUSE_CREATE: self._direct_create,
            FUSE_UNLINK: self._direct_unlink,
            FUSE_RELEASE: self._direct_release,
            FUSE_FORGET: self._direct_forget,
            FUSE_BATCH_FORGET: self._direct_batch_forget,
            FUSE_INTERRUPT: self._direct_interrupt,
        }

    def _negative(self) -> bytes:
        entry, entry_ns = self._entry_valid
        return _ENTRY_OUT.pack(0, 0, entry, 0, entry_ns, 0, *[0] * 16)[: self._entry_size]

    # -- the one boundary: lock, credentials, errors --------------------------------------------------

    def _enter(self, req: int) -> None:
        c = fuse_req_ctx(req).contents
        self._caller(c.uid, c.gid, c.pid)

    def _caller(self, uid: int, gid: int, pid: int) -> None:
        ids = self._ids
        # root's groups never decide anything (but a mapped host root may be an ordinary guest user)
        key = (uid, gid, _groups_of(pid) if uid or ids is not None else ())
        creds = self._creds.get(key)
        if creds is None:
            if ids is None:
                creds = Credentials.user(*key)
            else:
                creds, self._creators[key] = ids.creds(*key)
            self._creds[key] = creds
        self.ctx.creds = creds
        if ids is not None:
            self._may_create = self._creators[key]

    # -- guest ids on the host (idmap.py): Linux's checks on an idmapped mount, in its order ------------

    def _creating(self) -> None:
        """may_create(): a caller without guest ids creates nothing (fsuidgid_has_mapping)."""
        if not self._may_create:
            raise FsError(errno.EOVERFLOW)

    def _unmapped(self, loc: Location) -> bool:
        """Whether the inode's owner or group has no host id (Linux's HAS_UNMAPPED_ID)."""
        ids = self._ids
        if ids is None:
            return False
        a = loc.mount.fs.getattr(loc.ino)
        return ids.unmapped(a.uid, a.gid)

    def _changing(self, loc: Location) -> None:
        """Such an inode is not changed, deleted or linked (may_delete, may_linkat, notify_change: "inode
        writeback is not safe when the uid or gid are invalid")."""
        if self._unmapped(loc):
            raise FsError(errno.EOVERFLOW)

    def _writable(self, loc: Location) -> None:
        """inode_permission(MAY_WRITE): nor written (its mtime would write back ids the host cannot
        know): EACCES, for files and directories alike."""
        if self._unmapped(loc):
            raise FsError(errno.EACCES)

    def _existing(self, name: bytes, flags: int = AT_SYMLINK_NOFOLLOW) -> Location | None:
        """What ``name`` in the cwd is, or None when it does not exist."""
        try:
            return self.ns.resolve(self.ctx, None, name, flags)[0]
        except FsError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def _changing_name(self, name: bytes) -> None:
        """_changing for ``name`` in the cwd (nothing to check when it does not exist)."""
        if self._ids is not None:
            loc = self._existing(name)
            if loc is not None:
                self._changing(loc)

    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        """The C callback of one request type: credentials (for the requests that check any), the lock
        (none for `lxfs mount`, which serialises nothing but itself), errors to -errno."""
        enter = None if name in _NO_CREDS else self._enter
        if not isinstance(self.lock, contextlib.nullcontext):
            lock = self.lock

            def locked(req: int, *args: Any) -> None:
                with lock:
                    return unlocked(req, *args)

        def unlocked(req: int, *args: Any) -> None:
            try:
                if enter is not None:
                    enter(req)
                fn(req, *args)
                return
            except Exception as exc:
                err = _failure(name, exc)
            reply_err(req, err)

        return unlocked if isinstance(self.lock, contextlib.nullcontext) else locked

    def callbacks(self) -> LowlevelOps:
        ops = LowlevelOps()
        for name, proto in LL_OPS:
            fn = getattr(self, f"op_{name}", None)
            if fn is None:
                continue
            # init/destroy take no request; forget replies with nothing, so it cannot fail visibly
            plain = name in ("init", "destroy", "forget", "forget_multi")
            cb = proto(self._unguarded(name, fn) if plain else self._guard(name, fn))
            self._keep.append(cb)
            setattr(ops, name, cb)
        return ops

    def _unguarded(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        lock = None if isinstance(self.lock, contextlib.nullcontext) else self.lock

        def callback(*args: Any) -> None:
            try:
                if lock is None:
                    fn(*args)
                else:
                    with lock:
                        fn(*args)
            except Exception as exc:
                _failure(name, exc)  # logged unless an ordinary errno
                if name.startswith("forget"):
                    reply_none(args[0])

        return callback

    # -- the hot requests, straight from /dev/fuse --------------------------------------------------------
    # A create+stat+unlink is 7 requests (bench/bench_fuse.py). These are decoded here from the request
    # FuseSession read and answered with one write, instead of libfuse's dispatch, a ctypes callback and
    # a reply call each; they call the same helpers as the op_* callbacks, which serve everything else.

    def direct(self, buf: memoryview, size: int) -> bytes | None:
        """The reply to the request in ``buf[:size]`` (b"" when it takes none), or None when libfuse is
        to serve it."""
        if not self._direct_ok:
            return None
        _, opcode, unique, nodeid, uid, gid, pid, extlen, _ = _IN_HEADER.unpack_from(buf)
        handler = self._direct.get(opcode)
        if handler is None or extlen:
            return None
        try:
            if isinstance(self.lock, contextlib.nullcontext):
                out = handler(buf, size, nodeid, uid, gid, pid)
            else:
                with self.lock:
                    out = handler(buf, size, nodeid, uid, gid, pid)
        except Exception as exc:
            return _OUT_HEADER.pack(16, -_failure(handler.__name__.removeprefix("_direct_"), exc), unique)
        if out is None:
            return b""
        return _OUT_HEADER.pack(16 + len(out), 0, unique) + out

    @staticmethod
    def _name(buf: memoryview, start: int, size: int) -> bytes:
        raw = buf[start:size].tobytes()
        end = raw.find(b"\0")
        return raw if end < 0 else raw[:end]

    def _direct_lookup(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> bytes:
        self._caller(uid, gid, pid)
        return self._lookup_out(nodeid, self._name(buf, 40, size))

    def _direct_getattr(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> bytes:
        flags, _, fh = _GETATTR_IN.unpack_from(buf, 40)
        return self._getattr_out(nodeid, fh if flags & FUSE_GETATTR_FH else None)

    def _direct_create(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> bytes:
        self._caller(uid, gid, pid)
        flags, mode, _umask, _ = _CREATE_IN.unpack_from(buf, 40)
        return self._create_out(nodeid, self._name(buf, 40 + _CREATE_IN.size, size), mode, flags)

    def _direct_unlink(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> bytes:
        self._caller(uid, gid, pid)
        self._unlink(nodeid, self._name(buf, 40, size))
        return b""

    def _direct_release(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> bytes:
        # release_flags' FLUSH asks for a flush first (nothing to flush), FLOCK_UNLOCK for the flock
        # callback lxfs does not have (the kernel keeps flock locks itself): libfuse would do the same.
        self._release(_U64.unpack_from(buf, 40)[0])
        return b""

    def _direct_forget(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> None:
        self._forget(nodeid, _U64.unpack_from(buf, 40)[0])

    def _direct_batch_forget(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> None:
        (count,) = struct.unpack_from("=I", buf, 40)
        for i in range(count):
            self._forget(*_FORGET_ONE.unpack_from(buf, 48 + 16 * i))

    def _direct_interrupt(self, buf: memoryview, size: int, nodeid: int, uid: int, gid: int, pid: int) -> None:
        """Nothing to interrupt: requests are served one at a time, so the kernel only interrupts ones
        already answered (libfuse would keep such an interrupt in a list for good)."""

    # -- nodes ------------------------------------------------------------------------------------------

    def _node(self, nodeid: int) -> _Node:
        node = self.nodes.get(nodeid)
        if node is None:
            raise FsError(errno.ESTALE)
        return node

    def _cd(self, loc: Location) -> None:
        """Make ``loc`` the context's cwd (it holds an inode reference: change it only when needed)."""
        if self.ctx.cwd != loc:
            self.ctx.set_cwd(loc)

    def _in(self, nodeid: int) -> _Node:
        """Make directory ``nodeid`` the cwd for a name-relative VFS call."""
        node = self._node(nodeid)
        self._cd(node.loc)
        return node

    def _ref(self, parent: _Node, name: bytes, loc: Location) -> int:
        """Count one kernel reference to ``loc`` (found as ``name`` in ``parent``); returns its node id."""
        nodeid = self.by_loc.get(loc)
        if nodeid is None:
            nodeid = self._next_id
            self._next_id += 1
            node = self.nodes[nodeid] = _Node(loc)
            self.by_loc[loc] = nodeid
        else:
            node = self.nodes[nodeid]
        self._add_name((parent.loc, name), nodeid)
        node.nlookup += 1
        return nodeid

    def _entry_for(self, parent: _Node, name: bytes, loc: Location, s: Stat) -> EntryParam:
        """_ref, and the entry for libfuse (readdirplus)."""
        e = self._entry
        e.ino = self._ref(parent, name, loc)
        e.generation = 0
        _fill_stat(e.attr, s)
        e.attr.st_ino = self._ino(loc.mount, s.st_ino)
        if self._ids is not None:
            e.attr.st_uid, e.attr.st_gid = self._ids.host_ids(s.st_uid, s.st_gid)
        e.attr_timeout = self.options.attr_timeout
        e.entry_timeout = self.options.entry_timeout
        return e

    def _ino(self, mount: Mount, ino: int) -> int:
        """The st_ino shown for inode ``ino`` on ``mount``. The image's own (the root filesystem's) are shown
        as they are. The mount has one st_dev for everything in it, while the guest sees /proc, /dev,
        /dev/pts, /dev/shm and whatever it mounts on a st_dev each, with inode numbers from 1 like the
        image's: shown as they are, the same (st_dev, st_ino) would name unrelated files, and find reports
        loops, du and cp -a take them for hard links. So those carry the minor of the st_dev the guest
        sees for them in the top 16 bits, as overlayfs's xino keeps a layer's index there."""
        if mount.fs is self._root_fs:
            return ino
        return ((os.minor(mount.dev) & 0xFFFF) << _INO_BITS) | (ino & _INO_MASK)

    def _fuse_attr(self, a: Attr, mount: Mount) -> bytes:
        """struct fuse_attr for ``a``, an inode on ``mount``: the part fuse_attr_out and fuse_entry_out share."""
        asec, ansec = divmod(a.atime_ns, 1_000_000_000)
        msec, mnsec = divmod(a.mtime_ns, 1_000_000_000)
        csec, cnsec = divmod(a.ctime_ns, 1_000_000_000)
        uid, gid = (a.uid, a.gid) if self._ids is None else self._ids.host_ids(a.uid, a.gid)
        return _ATTR.pack(
            self._ino(mount, a.ino), a.size, a.blocks, asec, msec, csec, ansec, mnsec, cnsec,
            a.mode, a.nlink, uid, gid, a.rdev & 0xFFFFFFFF, a.blksize, 0,
        )  # fmt: skip

    def _attr_out(self, a: Attr, mount: Mount) -> bytes:
        """struct fuse_attr_out for ``a``, an inode on ``mount`` (what fuse_reply_attr sends)."""
        valid, valid_ns = self._attr_valid
        out = _ATTR_HEAD.pack(valid, valid_ns, 0) + self._fuse_attr(a, mount)
        return out if self._attr_size == len(out) else out[: self._attr_size]

    def _entry_out(self, nodeid: int, a: Attr, mount: Mount) -> bytes:
        """struct fuse_entry_out for node ``nodeid``, an inode on ``mount`` with attributes ``a`` (what
        fuse_reply_entry sends)."""
        entry, entry_ns = self._entry_valid
        valid, valid_ns = self._attr_valid
        out = _ENTRY_HEAD.pack(nodeid, 0, entry, valid, entry_ns, valid_ns) + self._fuse_attr(a, mount)
        return out if self._entry_size == len(out) else out[: self._entry_size]

    def _lookup(self, parent: _Node, name: bytes) -> bytes:
        """The fuse_entry_out of ``name`` in ``parent`` (the cwd), counting the kernel's reference."""
        loc, attr = self.ns.resolve(self.ctx, None, name, AT_SYMLINK_NOFOLLOW)
        return self._entry_out(self._ref(parent, name, loc), attr, loc.mount)

    def _forget(self, nodeid: int, n: int) -> None:
        node = self.nodes.get(nodeid)
        if node is None or nodeid == FUSE_ROOT_ID:
            return
        node.nlookup -= n
        if node.nlookup <= 0:
            del self.nodes[nodeid]
            if self.by_loc.get(node.loc) == nodeid:
                del self.by_loc[node.loc]
            for key in node.names:
                if self.by_name.get(key) == nodeid:
                    del self.by_name[key]

    def _add_name(self, key: Name, nodeid: int) -> None:
        old = self.by_name.get(key)
        if old == nodeid:
            return
        if old is not None:
            self._drop_name(key)
        self.by_name[key] = nodeid
        self.nodes[nodeid].names.append(key)

    def _drop_name(self, key: Name) -> int | None:
        nodeid = self.by_name.pop(key, None)
        if nodeid is not None:
            node = self.nodes.get(nodeid)
            if node is not None and key in node.names:
                node.names.remove(key)
        return nodeid

    def _named(self, node: _Node) -> bytes:
        """Make the directory of one of the node's names the cwd and return that name (b"/" for the
        root). Another process may have moved names: each is checked to still lead to the node."""
        if node.loc == self.ns.root:
            return b"/"
        for parent, name in reversed(node.names):
            self._cd(parent)
            try:
                loc, _ = self.ns.resolve(self.ctx, None, name, AT_SYMLINK_NOFOLLOW)
            except FsError:
                continue
            if loc == node.loc:
                return name
        raise FsError(errno.ESTALE)

    # -- file handles ---------------------------------------------------------------------------------

    def _install(self, file: OpenFile) -> int:
        if self._free:
            fh = self._free.pop()
            self.files[fh] = file
        else:
            fh = len(self.files)
            self.files.append(file)
        return fh

    def _file(self, fi: Any) -> OpenFile:
        return self._file_at(fi.contents.fh)

    def _file_at(self, fh: int) -> OpenFile:
        file = self.files[fh] if 0 <= fh < len(self.files) else None
        if file is None:
            raise FsError(errno.EBADF)
        return file

    def close_all(self) -> None:
        """Close every OpenFile still held (the kernel normally releases them before unmounting)."""
        for fh, file in enumerate(self.files):
            if file is not None:
                self.files[fh] = None
                try:
                    file.close()
                except FsError as exc:  # e.g. a corrupt image: the others are still closed
                    _failure("release (at unmount)", exc)
        self.files.clear()
        self._free.clear()

    # -- lifecycle --------------------------------------------------------------------------------------

    def op_init(self, _userdata: Any, conn: Any) -> None:
        c: fuse_conn_info = conn.contents
        self._direct_ok = c.proto_minor >= 12  # the request layouts FuseAdapter.direct decodes
        if c.proto_minor < 9:  # the replies packed here are the older, shorter structs
            self._attr_size = _COMPAT_ATTR_OUT_SIZE
            self._entry_size = _COMPAT_ENTRY_OUT_SIZE
            self._negative_entry = self._negative()
        # The VFS clears suid/sgid on write/truncate/chown itself (as the emulator needs); without this
        # the kernel would send a chmod as the writer, which a non-owner may not do.
        if c.capable & FUSE_CAP_HANDLE_KILLPRIV:
            c.want |= FUSE_CAP_HANDLE_KILLPRIV
        if c.capable & FUSE_CAP_ATOMIC_O_TRUNC:
            c.want |= FUSE_CAP_ATOMIC_O_TRUNC  # open(O_TRUNC) is one VFS openat
        if self.on_init is not None:
            self.on_init()

    def op_destroy(self, _userdata: Any) -> None:
        self.close_all()
        self.ctx.release()

    def op_forget(self, req: int, nodeid: int, nlookup: int) -> None:
        self._forget(nodeid, nlookup)
        reply_none(req)

    def op_forget_multi(self, req: int, count: int, forgets: Any) -> None:
        for i in range(count):
            self._forget(forgets[i].ino, forgets[i].nlookup)
        reply_none(req)

    # -- lookup and attributes --------------------------------------------------------------------------

    def op_lookup(self, req: int, parent: int, name: bytes) -> None:
        out = self._lookup_out(parent, name)
        reply_buf(req, out, len(out))

    def _lookup_out(self, parent: int, name: bytes) -> bytes:
        p = self._in(parent)
        try:
            out = self._lookup(p, name)
        except FsError as exc:
            if exc.errno != errno.ENOENT:
                raise
            # A negative entry (node 0) the kernel keeps for the entry timeout, as it keeps positive ones:
            # a missing name asked again (PATH searches, Python's import probing, git's lstat of paths it
            # expects) is answered by the kernel. Names made through the mount replace it at once; ones
            # another process makes on the image show within the timeout, as other changes do.
            out = self._negative_entry
        return out

    def op_getattr(self, req: int, nodeid: int, fi: Any) -> None:
        out = self._getattr_out(nodeid, fi.contents.fh if fi else None)
        reply_buf(req, out, len(out))

    def _getattr_out(self, nodeid: int, fh: int | None) -> bytes:
        """fuse_attr_out of the open file ``fh`` if given (fstat of an unlinked file), else of the node."""
        loc = self._file_at(fh).loc if fh is not None else self._node(nodeid).loc
        return self._attr_out(loc.mount.fs.getattr(loc.ino), loc.mount)

    def op_setattr(self, req: int, nodeid: int, attr: Any, to_set: int, fi: Any) -> None:
        """One setattr request is what chmod/chown/truncate/utimensat asked for (Linux's notify_change
        gets them one call at a time too); applied in libfuse's order: mode, owner, size, times."""
        node = self._node(nodeid)
        file = self._file(fi) if fi else None
        ctx = self.ctx
        ns = self.ns
        a: c_stat = attr.contents
        self._cd(node.loc)
        uid = gid = -1
        if to_set & FUSE_SET_ATTR_UID:
            uid = a.st_uid if self._ids is None else self._ids.guest_uid(a.st_uid)
        if to_set & FUSE_SET_ATTR_GID:
            gid = a.st_gid if self._ids is None else self._ids.guest_gid(a.st_gid)
        ids = self._ids
        if ids is not None:  # notify_change(): ids that have no host id may only be replaced
            cur = file.loc if file is not None else node.loc
            now = cur.mount.fs.getattr(cur.ino)
            if (not to_set & FUSE_SET_ATTR_UID and ids.uids.to_host(now.uid) is None) or (
                not to_set & FUSE_SET_ATTR_GID and ids.gids.to_host(now.gid) is None
            ):
                raise FsError(errno.EOVERFLOW)
        if to_set & FUSE_SET_ATTR_MODE:
            if file is not None:
                file.fchmod(ctx.creds, a.st_mode & 0o7777)
            else:
                ns.fchmodat(ctx, None, b"", a.st_mode & 0o7777, AT_EMPTY_PATH)
        if to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID):
            if file is not None:
                file.fchown(ctx.creds, uid, gid)
            else:
                ns.fchownat(ctx, None, b"", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
        if to_set & FUSE_SET_ATTR_SIZE:
            if file is not None:
                file.truncate(a.st_size, ctx.creds)
            else:
                ns.truncate(ctx, self._named(node), a.st_size)
                self._cd(node.loc)
        times_mask = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW
        if to_set & times_mask:
            times = (
                _time(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, a.st_atimespec),
                _time(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, a.st_mtimespec),
            )
            if file is not None:
                file.futimens(ctx.creds, times)
            else:
                ns.utimensat(ctx, None, b"", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
        loc = file.loc if file is not None else node.loc
        out = self._attr_out(loc.mount.fs.getattr(loc.ino), loc.mount)
        reply_buf(req, out, len(out))

    def op_access(self, req: int, nodeid: int, mask: int) -> None:
        self._cd(self._node(nodeid).loc)
        self.ns.faccessat(self.ctx, None, b"", mask, AT_EACCESS | AT_EMPTY_PATH)
        reply_err(req, 0)

    def op_readlink(self, req: int, nodeid: int) -> None:
        self._cd(self._node(nodeid).loc)
        reply_readlink(req, self.ns.readlinkat(self.ctx, None, b""))

    def op_statfs(self, req: int, nodeid: int) -> None:
        s = self.ns.statfs_of(self._node(nodeid).loc)
        v = c_statvfs()
        v.f_bsize = s.f_bsize
        v.f_frsize = s.f_frsize
        v.f_blocks = s.f_blocks
        v.f_bfree = s.f_bfree
        v.f_bavail = s.f_bavail
        v.f_files = s.f_files
        v.f_ffree = s.f_ffree
        v.f_favail = s.f_ffree
        v.f_namemax = s.f_namelen
        reply_statfs(req, v)

    # -- names ------------------------------------------------------------------------------------------

    def op_mknod(self, req: int, parent: int, name: bytes, mode: int, rdev: int) -> None:
        p = self._in(parent)
        self._creating()
        self._writable(p.loc)
        self.ns.mknodat(self.ctx, None, name, mode, rdev)
        out = self._lookup(p, name)
        reply_buf(req, out, len(out))

    def op_mkdir(self, req: int, parent: int, name: bytes, mode: int) -> None:
        p = self._in(parent)
        self._creating()
        self._writable(p.loc)
        self.ns.mkdirat(self.ctx, None, name, mode)
        out = self._lookup(p, name)
        reply_buf(req, out, len(out))

    def op_symlink(self, req: int, target: bytes, parent: int, name: bytes) -> None:
        p = self._in(parent)
        self._creating()
        self._writable(p.loc)
        self.ns.symlinkat(self.ctx, target, None, name)
        out = self._lookup(p, name)
        reply_buf(req, out, len(out))

    def op_link(self, req: int, nodeid: int, newparent: int, newname: bytes) -> None:
        node = self._node(nodeid)
        p = self._node(newparent)
        self._changing(node.loc)
        self._creating()
        self._writable(p.loc)
        self._cd(node.loc)
        target = OpenFile(self.ns, p.loc, os.O_PATH)  # the new name's directory as a dirfd
        try:
            self.ns.linkat(self.ctx, None, b"", target, newname, AT_EMPTY_PATH)
        finally:
            target.close()
        self._cd(p.loc)
        out = self._lookup(p, newname)
        reply_buf(req, out, len(out))

    def op_unlink(self, req: int, parent: int, name: bytes) -> None:
        self._unlink(parent, name)
        reply_err(req, 0)

    def _unlink(self, parent: int, name: bytes) -> None:
        p = self._in(parent)
        self._changing_name(name)
        self._writable(p.loc)
        self.ns.unlinkat(self.ctx, None, name, 0)
        self._drop_name((p.loc, name))

    def op_rmdir(self, req: int, parent: int, name: bytes) -> None:
        p = self._in(parent)
        self._changing_name(name)
        self._writable(p.loc)
        self.ns.unlinkat(self.ctx, None, name, AT_REMOVEDIR)
        self._drop_name((p.loc, name))
        reply_err(req, 0)

    def op_rename(self, req: int, parent: int, name: bytes, newparent: int, newname: bytes, flags: int) -> None:
        old = self._in(parent)
        new = self._node(newparent)
        if self._ids is not None:
            self._changing_name(name)
            self._writable(old.loc)
            self._cd(new.loc)
            victim = self._existing(newname)
            if victim is not None:
                self._changing(victim)  # may_delete of a target that exists...
            else:
                self._creating()  # ... may_create of one that does not
            self._writable(new.loc)
            self._cd(old.loc)
        target = OpenFile(self.ns, new.loc, os.O_PATH)
        try:
            self.ns.renameat2(self.ctx, None, name, target, newname, flags)
        finally:
            target.close()
        # move the names as the kernel moved its dentries
        moved = self._drop_name((old.loc, name))
        replaced = self._drop_name((new.loc, newname))
        if moved is not None:
            self._add_name((new.loc, newname), moved)
        if replaced is not None and flags & RENAME_EXCHANGE:
            self._add_name((old.loc, name), replaced)
        reply_err(req, 0)

    # -- open files -------------------------------------------------------------------------------------

    def _keep_cache(self, node: _Node, file: OpenFile) -> bool:
        """auto_cache: keep the kernel's page cache when mtime and size are as at the last open."""
        s = file.stat()
        key = (s.st_mtime_ns, s.st_size)
        keep = node.cache_key == key
        node.cache_key = key
        return keep

    def _open(self, node: _Node, flags: int) -> OpenFile:
        """Open the node by the name the kernel reached it by, as open(2) did (the same permission
        checks), and make sure that name still leads to it."""
        file = self.ns.openat(self.ctx, None, self._named(node), flags)
        if file.loc != node.loc:
            file.close()
            raise FsError(errno.ESTALE)
        return file

    def op_open(self, req: int, nodeid: int, fi: Any) -> None:
        node = self._node(nodeid)
        f = fi.contents
        flags = f.flags
        if flags & (os.O_ACCMODE | os.O_TRUNC):  # may_open: O_TRUNC asks for MAY_WRITE too
            self._writable(node.loc)
        if flags & FMODE_EXEC:
            # execve's open: exec permission, not read (do_open_execat), as the VFS's open_exec checks
            file = self.ns.open_exec(self.ctx, None, self._named(node), AT_SYMLINK_NOFOLLOW)
            if file.loc != node.loc:
                file.close()
                raise FsError(errno.ESTALE)
        else:
            file = self._open(node, flags)
        if file.ops is not None:
            f.direct_io = 1  # synthetic files (/proc) and devices: no page cache, their size is 0
        else:
            f.keep_cache = self._keep_cache(node, file)
        f.noflush = 1  # close(2) has nothing to flush: spare the kernel a FLUSH round trip per close
        f.fh = self._install(file)
        reply_open(req, fi)

    def op_create(self, req: int, parent: int, name: bytes, mode: int, fi: Any) -> None:
        out = self._create_out(parent, name, mode, fi.contents.flags)
        reply_buf(req, out, len(out))

    def _create_out(self, parent: int, name: bytes, mode: int, flags: int) -> bytes:
        p = self._in(parent)
        if not self._may_create and self._existing(name, 0) is None:
            raise FsError(errno.EOVERFLOW)  # may_o_create() is asked only when the name is missing
        if self._ids is not None:
            self._writable(p.loc)
        file = self.ns.openat(self.ctx, None, name, flags | os.O_CREAT, mode & 0o7777)
        loc = file.loc
        try:
            nodeid = self._ref(p, name, loc)
            entry = self._entry_out(nodeid, loc.mount.fs.getattr(loc.ino), loc.mount)
        except BaseException:
            file.close()
            raise
        self.nodes[nodeid].cache_key = None
        # fuse_reply_create's payload: the entry, then fuse_open_out (noflush, as op_open says why)
        return entry + _OPEN_OUT.pack(self._install(file), FOPEN_NOFLUSH, 0)

    def op_read(self, req: int, nodeid: int, size: int, offset: int, fi: Any) -> None:
        data = self._file(fi).pread(size, offset)
        reply_buf(req, data, len(data))

    def op_write(self, req: int, nodeid: int, buf: int, size: int, offset: int, fi: Any) -> None:
        reply_write(req, self._file(fi).pwrite(ctypes.string_at(buf, size), offset, self.ctx.creds))

    def op_flush(self, req: int, nodeid: int, fi: Any) -> None:
        reply_err(req, 0)  # close(2) of one descriptor: every write is already committed

    def op_release(self, req: int, nodeid: int, fi: Any) -> None:
        self._release(fi.contents.fh)
        reply_err(req, 0)

    def _release(self, fh: int) -> None:
        file = self.files[fh]
        self.files[fh] = None
        self._free.append(fh)
        if file is not None:
            file.close()

    def op_fallocate(self, req: int, nodeid: int, mode: int, offset: int, length: int, fi: Any) -> None:
        self._file(fi).fallocate(mode, offset, length, self.ctx.creds)
        reply_err(req, 0)

    def op_lseek(self, req: int, nodeid: int, offset: int, whence: int, fi: Any) -> None:
        """SEEK_DATA/SEEK_HOLE (the kernel does the other whences): the holes VolFs knows, as the guest
        sees them."""
        reply_lseek(req, self._file(fi).lseek(offset, whence))

    def op_fsync(self, req: int, nodeid: int, datasync: int, fi: Any) -> None:
        self._file(fi).fsync(bool(datasync))
        reply_err(req, 0)

    # -- directories ------------------------------------------------------------------------------------

    def op_opendir(self, req: int, nodeid: int, fi: Any) -> None:
        file = self._open(self._node(nodeid), os.O_RDONLY | os.O_DIRECTORY)
        fi.contents.fh = self._install(file)
        reply_open(req, fi)

    def op_readdir(self, req: int, nodeid: int, size: int, offset: int, fi: Any) -> None:
        file = self._file(fi)
        file.pos = offset  # the cookie of the last entry the kernel took
        if len(self._dirbuf) < size:
            self._dirbuf = ctypes.create_string_buffer(size)
        buf = self._dirbuf
        base = ctypes.addressof(buf)
        used = 0
        st = self._stat
        mount = file.loc.mount  # every entry's d_ino is of the directory's filesystem, as in Linux
        full = False
        while not full:
            entries = file.getdents(_DIRENT_BATCH)
            if not entries:
                break
            for e in entries:
                st.st_ino = self._ino(mount, e.ino)
                st.st_mode = e.dtype << 12
                n = add_direntry(req, base + used, size - used, e.name, st, e.offset)
                if n > size - used:
                    full = True  # the kernel asks again from the last cookie it took
                    break
                used += n
        reply_buf(req, buf, used)

    def op_readdirplus(self, req: int, nodeid: int, size: int, offset: int, fi: Any) -> None:
        """readdir with each entry's attributes, so that `ls -l` needs no LOOKUP per name. Each entry
        the kernel takes is one lookup reference, as a LOOKUP would be; '.', '..' and names the caller
        may not search carry no attributes (the kernel then looks them up, or fails, as usual)."""
        file = self._file(fi)
        dir_node = self._node(nodeid)
        file.pos = offset
        if len(self._dirbuf) < size:
            self._dirbuf = ctypes.create_string_buffer(size)
        buf = self._dirbuf
        base = ctypes.addressof(buf)
        used = 0
        bare = EntryParam()
        ctx = self.ctx
        self._cd(dir_node.loc)
        resolve = self.ns.resolve
        dir_mount = file.loc.mount
        full = False
        while not full:
            entries = file.getdents(_DIRENT_BATCH)
            if not entries:
                break
            for e in entries:
                taken = 0
                entry = bare
                if e.name != b"." and e.name != b"..":
                    try:
                        loc, attr = resolve(ctx, None, e.name, AT_SYMLINK_NOFOLLOW)
                    except FsError:
                        pass
                    else:
                        entry = self._entry_for(dir_node, e.name, loc, Stat.from_attr(attr, loc.mount.dev))
                        taken = entry.ino
                if not taken:
                    bare.attr.st_ino = self._ino(dir_mount, e.ino)
                    bare.attr.st_mode = e.dtype << 12
                n = add_direntry_plus(req, base + used, size - used, e.name, entry, e.offset)
                if n > size - used:
                    if taken:
                        self._forget(taken, 1)  # the kernel did not get this entry
                    full = True
                    break
                used += n
        reply_buf(req, buf, used)

    def op_releasedir(self, req: int, nodeid: int, fi: Any) -> None:
        self.op_release(req, nodeid, fi)

    def op_fsyncdir(self, req: int, nodeid: int, datasync: int, fi: Any) -> None:
        self.op_fsync(req, nodeid, datasync, fi)

    # -- extended attributes: the VFS's inode-level calls (the same ones f*xattr(2) use) -----------------

    def op_setxattr(self, req: int, nodeid: int, name: bytes, value: int, size: int, flags: int) -> None:
        loc = self._node(nodeid).loc
        self._xattr_writable(loc)
        inode.do_setxattr(self.ctx.creds, loc, name, ctypes.string_at(value, size), flags)
        reply_err(req, 0)

    def _xattr_writable(self, loc: Location) -> None:
        """may_write_xattr(): EPERM for an inode whose owner or group has no host id."""
        if self._unmapped(loc):
            raise FsError(errno.EPERM)

    def op_getxattr(self, req: int, nodeid: int, name: bytes, size: int) -> None:
        data = inode.do_getxattr(self.ctx.creds, self._node(nodeid).loc, name, size or None)
        if size:
            reply_buf(req, data, len(data))
        else:
            reply_xattr(req, len(data))

    def op_listxattr(self, req: int, nodeid: int, size: int) -> None:
        names = inode.do_listxattr(self.ctx.creds, self._node(nodeid).loc, size or None)
        data = b"".join(n + b"\0" for n in names)
        if size:
            if len(data) > size:
                raise FsError(errno.ERANGE)
            reply_buf(req, data, len(data))
        else:
            reply_xattr(req, len(data))

    def op_removexattr(self, req: int, nodeid: int, name: bytes) -> None:
        loc = self._node(nodeid).loc
        self._xattr_writable(loc)
        inode.do_removexattr(self.ctx.creds, loc, name)
        reply_err(req, 0)


def _timeout(seconds: float) -> tuple[int, int]:
    """A timeout as the kernel takes it: whole seconds and nanoseconds (libfuse's calc_timeout_*)."""
    if seconds <= 0:
        return 0, 0
    whole = int(seconds)
    return whole, min(int((seconds - whole) * 1e9), 999_999_999)


def _time(to_set: int, bit: int, now_bit: int, ts: Any) -> tuple[int, int]:
    if to_set & now_bit:
        return (0, UTIME_NOW)
    if to_set & bit:
        return (ts.tv_sec, ts.tv_nsec)
    return (0, UTIME_OMIT)


class FuseSession:
    """One libfuse session: ``mount()`` attaches it to the mount point, ``loop()`` serves requests
    until unmounted (or a signal when ``handle_signals``), then tears everything down."""

    def __init__(self, adapter: FuseAdapter, mountpoint: str) -> None:
        self.adapter = adapter
        self.mountpoint = os.path.abspath(mountpoint)
        self._se: int | None = None
        self._ops = adapter.callbacks()

    def mount(self) -> None:
        argv_list = self.adapter.options.args()
        argv = (c_char_p * len(argv_list))(*argv_list)
        args = FuseArgs(len(argv_list), ctypes.cast(argv, POINTER(c_char_p)), 0)
        se = fuse_session_new(ctypes.byref(args), ctypes.byref(self._ops), ctypes.sizeof(self._ops), None)
        fuse_opt_free_args(ctypes.byref(args))
        if not se:
            raise MountError("libfuse refused the mount options")
        if fuse_session_mount(se, os.fsencode(self.mountpoint)) != 0:
            fuse_session_destroy(se)
            raise MountError(f"cannot mount on {self.mountpoint} (libfuse's message is above)")
        self._se = se

    def loop(self, handle_signals: bool = False, stop: threading.Event | None = None, poll_us: int = 0) -> None:
        """Serve until unmounted (or, with ``handle_signals``, SIGINT/SIGTERM/SIGHUP; or ``stop`` set:
        both are noticed within 0.1 s). Tearing down then detaches the mount and closes /dev/fuse,
        which aborts the connection even while processes still use the mount.

        ``poll_us``: after each request, poll /dev/fuse without sleeping for that long before blocking.
        A process waiting for a reply asks its next request a few tens of us later; a server asleep by
        then costs a wake-up of its CPU on top (measured on the 2-vCPU VM of bench/RESULTS.md: a
        create+stat+unlink is 5 round trips, 2,650/s blocking, 3,800/s with 50-1000 us of polling)."""
        se = self._se
        if se is None:
            raise MountError("not mounted")
        if handle_signals:
            fuse_set_signal_handlers(se)
        try:
            self._serve(se, stop, poll_us * 1000)
        finally:
            if handle_signals:
                fuse_remove_signal_handlers(se)
            fuse_session_unmount(se)
            fuse_session_destroy(se)  # calls op_destroy: open files are closed
            self._se = None

    _BUFSIZE = 2 << 20  # more than a request can be: 1 MiB of WRITE data (max_pages 256) and headers

    def _serve(self, se: int, stop: threading.Event | None, poll_ns: int) -> None:
        """Read requests from /dev/fuse (non-blocking); answer the hot ones directly (FuseAdapter.direct)
        and hand the rest, in the same buffer, to libfuse."""
        import fcntl
        import select

        fd = fuse_session_fd(se)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        raw = ctypes.create_string_buffer(self._BUFSIZE)
        view = memoryview(raw).cast("B")
        fbuf = FuseBuf(size=0, flags=0, mem=ctypes.addressof(raw), fd=-1, pos=0)
        ref = ctypes.byref(fbuf)
        bufs = [raw]
        direct = self.adapter.direct
        readv, write, clock = os.readv, os.write, time.monotonic_ns
        last = 0  # when the last request was served
        while True:
            try:
                size = readv(fd, bufs)
            except OSError as exc:
                # EAGAIN: nothing yet; ENOENT: a request the kernel took back; ENODEV: unmounted
                if exc.errno not in (errno.EAGAIN, errno.EINTR, errno.ENOENT):
                    if exc.errno == errno.ENODEV:
                        log.info("%s: unmounted", self.mountpoint)
                    else:
                        log.error("%s: reading /dev/fuse failed (%s): unmounting", self.mountpoint, exc.strerror)
                    break
                if not poll_ns or clock() - last >= poll_ns:
                    poller.poll(100)  # sleep until a request comes, or 0.1 s to look at stop/exited
            else:
                out = direct(view, size)
                if out is None:
                    fbuf.size = size
                    fuse_session_process_buf(se, ref)
                elif out:
                    try:
                        write(fd, out)
                    except OSError as exc:
                        if exc.errno != errno.ENOENT:  # ENOENT: the caller was interrupted meanwhile
                            log.warning("FUSE reply not sent: %s", exc.strerror)
                if poll_ns:
                    last = clock()
            if fuse_session_exited(se) or (stop is not None and stop.is_set()):
                log.info("%s: asked to stop (a signal, or the program ended): unmounting", self.mountpoint)
                break


class FuseServer:
    """A Namespace served on a host thread (``lxfs run --mount``); ``stop()`` unmounts and joins."""

    def __init__(self, session: FuseSession) -> None:
        self.session = session
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fuse:{session.mountpoint}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.session.loop(handle_signals=False, stop=self._stop)  # no polling: the guest needs the GIL
        except BaseException as exc:  # reported by stop()
            self.error = exc

    @property
    def mountpoint(self) -> str:
        return self.session.mountpoint

    def stop(self, timeout: float = 10.0) -> None:
        """End serving: the mount is detached (processes still inside get ENOTCONN) and every open
        file closed. Call it WITHOUT holding the kernel lock: a request may be waiting for it."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise MountError(f"FUSE thread for {self.mountpoint} did not stop within {timeout} s")
        if self.error is not None:
            raise MountError(f"FUSE server failed: {self.error}") from self.error


def serve_in_thread(
    ns: Namespace,
    mountpoint: str,
    kernel_lock: contextlib.AbstractContextManager[Any],
    options: MountOptions | None = None,
) -> FuseServer:
    """Mount ``ns`` on ``mountpoint`` and serve it on a new host thread; every request runs with
    ``kernel_lock`` held (the emulator's big kernel lock). Returns once the mount is attached."""
    check_mountpoint(mountpoint)
    session = FuseSession(FuseAdapter(ns, kernel_lock, options), mountpoint)
    session.mount()
    return FuseServer(session)


# -- the checks that turn the usual failures into one clear sentence -------------------------------------


def mounted_source(mountpoint: str) -> str | None:
    """The source of the mount at ``mountpoint`` (from /proc/self/mountinfo), or None."""
    target = os.path.abspath(mountpoint)
    for fields in mountinfo():
        if fields[4] == target:
            return fields[-2]
    return None


def mountinfo() -> Iterator[list[str]]:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = [_unescape(x) for x in line.split()]
                if len(fields) >= 10:
                    yield fields
    except OSError:
        return


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def check_mountpoint(mountpoint: str) -> None:
    """A usable mount point: an existing, empty directory with nothing mounted on it."""
    try:
        st = os.stat(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            raise MountError(
                f"{mountpoint}: a stale FUSE mount (its server is gone); run `lxfs umount {mountpoint}` first"
            ) from None
        if exc.errno == errno.ENOENT:
            raise MountError(f"{mountpoint}: no such directory") from None
        raise MountError(f"{mountpoint}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"{mountpoint}: not a directory")
    if os.path.ismount(mountpoint):
        src = mounted_source(mountpoint)
        raise MountError(f"{mountpoint}: busy, already a mount point" + (f" (of {src})" if src else ""))
    if os.listdir(mountpoint):
        raise MountError(f"{mountpoint}: not empty (mounting would hide its files)")
