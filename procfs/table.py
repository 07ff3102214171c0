"""The /proc tree as a declarative table of entries (name, mode, generator or link or children) and
ProcFs, the Filesystem that serves it (like gVisor's fsimpl/proc and Linux's fs/proc/base.c tables).

Who is "self": ProcFs asks its ProcessSource (``current_pid``/``current_tid``/``current_uid``) at the
moment of the call; the emulator answers with the task whose syscall runs.

Inode numbers are interned per (entry, pid, tid, fd), so they are stable for the life of the mount.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxfs.linux import PROC_SUPER_MAGIC
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import Attr, DirEntry, FileOps, SetAttr
from lxfs.vfs.synthetic import SyntheticFs
from procfs import pid as P
from procfs import system as S
from procfs.source import FdInfo, Identity, ProcessInfo, ProcessSource

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile

PROC_ROOT_INO = 1
TASK_COMM_LEN = 16
OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX = -1000, 1000

# Directory kinds whose children come from the source, not the table
PIDS, TASKS, FDS, FDINFOS = "pids", "tasks", "fds", "fdinfos"


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One name in the table. Exactly one of render / link / children-or-dynamic applies.

    ``render`` takes a pid.Task for entries under /proc/PID and the ProcessSource for global ones;
    ``ptrace`` entries need ptrace_may_access (Linux's PTRACE_MODE_READ) to open or readlink."""

    name: bytes
    mode: int
    render: Callable[[Any], bytes] | None = None
    link: Callable[[Node, ProcFs], bytes] | None = None
    children: tuple[Entry, ...] = ()
    dynamic: str = ""
    write: Callable[[Node, ProcFs, bytes], None] | None = None
    ptrace: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    """An inode: an entry instantiated for a process / thread / descriptor (0 where not applicable)."""

    entry: Entry
    pid: int = 0
    tid: int = 0
    fd: int = -1


def _file(name: bytes, mode: int, render: Callable[[Any], bytes], **kw: Any) -> Entry:
    return Entry(name, stat.S_IFREG | mode, render=render, **kw)


def _dir(name: bytes, *children: Entry, mode: int = 0o555, dynamic: str = "") -> Entry:
    return Entry(name, stat.S_IFDIR | mode, children=children, dynamic=dynamic)


def _link(name: bytes, target: Callable[[Node, ProcFs], bytes], **kw: Any) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, link=target, **kw)


# --- writers and link targets (need the filesystem's source) ---------------------------------------


def _write_comm(node: Node, fs: ProcFs, data: bytes) -> None:
    # fs/proc/base.c comm_write: only a thread of the caller's own group; truncated, newline kept
    if node.pid != fs.source.current_pid():
        raise FsError(errno.EINVAL)
    fs.source.set_comm(node.pid, node.tid or node.pid, data[: TASK_COMM_LEN - 1].split(b"\0")[0])


def _write_oom_score_adj(node: Node, fs: ProcFs, data: bytes) -> None:
    # fs/proc/base.c oom_score_adj_write: kstrtoint of the stripped text; lowering below 0 needs
    # CAP_SYS_RESOURCE (root here)
    try:
        value = int(data[:12].strip(), 10)
    except ValueError:
        raise FsError(errno.EINVAL) from None
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise FsError(errno.EINVAL)
    if value < 0 and fs.source.current_uid() != 0:
        raise FsError(errno.EACCES)
    fs.source.set_oom_score_adj(node.pid, value)


def _write_hostname(node: Node, fs: ProcFs, data: bytes) -> None:
    # kernel/utsname_sysctl.c: the first line, at most 64 bytes; root only (the mode says 0644)
    if not data:
        return
    name = data.split(b"\n")[0][:64]
    fs.source.set_hostname(name)


def _int_sysctl(low: int, high: int) -> Callable[[Node, ProcFs, bytes], None]:
    """kernel/sysctl.c proc_dointvec_minmax: the first number of the text, EINVAL outside [low, high].
    The value is kept by procfs and read back; the emulated kernel does not act on it."""

    def write(node: Node, fs: ProcFs, data: bytes) -> None:
        if not data:
            return  # proc_sys_call_handler: a zero-length write changes nothing
        words = data.split()
        try:
            value = int(words[0], 10) if words else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise FsError(errno.EINVAL)
        fs.sysctl[node.entry] = b"%d\n" % value

    return write


def _write_domainname(node: Node, fs: ProcFs, data: bytes) -> None:
    if not data:
        return
    fs.sysctl[node.entry] = data.split(b"\n")[0][:64] + b"\n"


def _proc_path(attr: str) -> Callable[[Node, ProcFs], bytes]:
    def target(node: Node, fs: ProcFs) -> bytes:
        value = getattr(fs.process(node.pid), attr)
        if value is None:
            raise FsError(errno.ENOENT)
        return bytes(value)

    return target


def _fd_target(node: Node, fs: ProcFs) -> bytes:
    for fd in fs.source.fds(node.pid):
        if fd.fd == node.fd:
            return fd.target
    raise FsError(errno.ENOENT)


def _ns_link(kind: bytes, ino: int) -> Entry:
    return _link(kind, lambda node, fs: b"%s:[%d]" % (kind.split(b"_")[0], ino), ptrace=True)


def _self_target(node: Node, fs: ProcFs) -> bytes:
    pid = fs.source.current_pid()
    if not pid:
        raise FsError(errno.ENOENT)
    return b"%d" % pid


def _thread_self_target(node: Node, fs: ProcFs) -> bytes:
    pid, tid = fs.source.current_pid(), fs.source.current_tid()
    if not pid:
        raise FsError(errno.ENOENT)
    return b"%d/task/%d" % (pid, tid)


# --- the table ---------------------------------------------------------------------------------------

# Entries of /proc/PID and /proc/PID/task/TID (Linux's tgid_base_stuff / tid_base_stuff)
_PER_TASK: tuple[Entry, ...] = (
    _file(b"auxv", 0o400, P.render_auxv, ptrace=True),
    _file(b"cgroup", 0o444, P.render_cgroup),
    _file(b"cmdline", 0o444, P.render_cmdline),
    _file(b"comm", 0o644, P.render_comm, write=_write_comm),
    _link(b"cwd", _proc_path("cwd"), ptrace=True),
    _file(b"environ", 0o400, P.render_environ, ptrace=True),
    _link(b"exe", _proc_path("exe"), ptrace=True),
    _dir(b"fd", mode=0o500, dynamic=FDS),
    _dir(b"fdinfo", dynamic=FDINFOS),
    _file(b"io", 0o400, P.render_io, ptrace=True),
    _file(b"limits", 0o444, P.render_limits),
    _file(b"maps", 0o444, P.render_maps, ptrace=True),
    _file(b"mountinfo", 0o444, P.render_mountinfo),
    _file(b"mounts", 0o444, P.render_mounts),
    _dir(b"net", _file(b"dev", 0o444, P.render_net_dev), _file(b"unix", 0o444, P.render_net_unix)),
    _dir(b"ns", *(_ns_link(kind, ino) for kind, ino in P.NS_INODES), mode=0o511),
    _file(b"oom_score", 0o444, P.render_oom_score),
    _file(b"oom_score_adj", 0o644, P.render_oom_score_adj, write=_write_oom_score_adj),
    _link(b"root", _proc_path("root"), ptrace=True),
    _file(b"smaps_rollup", 0o444, P.render_smaps_rollup, ptrace=True),
    _file(b"stat", 0o444, P.render_stat),
    _file(b"statm", 0o444, P.render_statm),
    _file(b"status", 0o444, P.render_status),
    _file(b"wchan", 0o444, P.render_wchan),
)
TID_DIR = _dir(b"", *_PER_TASK)
PID_DIR = _dir(b"", *sorted((*_PER_TASK, _dir(b"task", dynamic=TASKS)), key=lambda e: e.name))
FD_LINK = Entry(b"", stat.S_IFLNK | 0o700, link=_fd_target, ptrace=True)
FDINFO_FILE = Entry(b"", stat.S_IFREG | 0o444, render=lambda fd: P.render_fdinfo(fd))

ROOT = _dir(
    b"",
    _file(b"cmdline", 0o444, S.render_cmdline),
    _file(b"cpuinfo", 0o444, S.render_cpuinfo),
    _file(b"devices", 0o444, S.render_devices),
    _file(b"filesystems", 0o444, S.render_filesystems),
    _file(b"loadavg", 0o444, S.render_loadavg),
    _file(b"meminfo", 0o444, S.render_meminfo),
    _link(b"mounts", lambda node, fs: b"self/mounts"),
    _link(b"net", lambda node, fs: b"self/net"),
    _file(b"partitions", 0o444, S.render_partitions),
    _link(b"self", _self_target),
    _file(b"stat", 0o444, S.render_stat),
    _file(b"swaps", 0o444, S.render_swaps),
    _dir(
        b"sys",
        _dir(
            b"fs",
            _file(b"file-max", 0o644, S.render_file_max, write=_int_sysctl(0, (1 << 63) - 1)),
            _file(b"nr_open", 0o644, S.render_nr_open, write=_int_sysctl(64, 1_073_741_816)),
        ),
        _dir(
            b"kernel",
            _file(b"domainname", 0o644, S.render_domainname, write=_write_domainname),
            _file(b"hostname", 0o644, S.render_hostname, write=_write_hostname),
            _file(b"osrelease", 0o444, S.render_osrelease),
            _file(b"ostype", 0o444, S.render_ostype),
            _file(b"pid_max", 0o644, S.render_pid_max, write=_int_sysctl(301, 4_194_304)),
            _dir(b"random", _file(b"boot_id", 0o444, S.render_boot_id), _file(b"uuid", 0o444, S.render_uuid)),
            _file(b"version", 0o444, S.render_kernel_version),
        ),
        _dir(b"vm", _file(b"overcommit_memory", 0o644, S.render_overcommit_memory, write=_int_sysctl(0, 2))),
    ),
    _link(b"thread-self", _thread_self_target),
    _file(b"uptime", 0o444, S.render_uptime),
    _file(b"version", 0o444, S.render_version),
    dynamic=PIDS,
)


_SUBDIRS: dict[int, int] = {}


def _subdirs(entry: Entry) -> int:
    """Static subdirectories of a directory entry (its nlink - 2), computed once per entry."""
    count = _SUBDIRS.get(id(entry))
    if count is None:
        count = _SUBDIRS[id(entry)] = sum(1 for child in entry.children if stat.S_ISDIR(child.mode))
    return count


class ProcSnapshot(FileOps):
    """An open /proc file: the text rendered at open (seq_file single_open), read at any offset."""

    seekable = True

    def __init__(self, data: bytes, writer: Callable[[bytes], None] | None, write_errno: int) -> None:
        super().__init__()
        self.data = data
        self._writer = writer
        self._write_errno = write_errno

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return self.data[offset : offset + size]

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        if self._writer is None:
            raise FsError(self._write_errno)
        self._writer(bytes(data))
        return len(data)

    def size(self, file: OpenFile) -> int:
        raise FsError(errno.EINVAL)  # seq_lseek: SEEK_END is not supported


@dataclass(slots=True)
class _Override:
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    times: tuple[int, int, int] | None = None


@dataclass(slots=True)
class ProcFs(SyntheticFs):
    """The proc filesystem over a ProcessSource (implements lxfs.vfs.interfaces.Filesystem)."""

    add_errno = create_errno = errno.ENOENT  # proc lookups never give a negative dentry to create in

    source: ProcessSource
    fs_type: str = "proc"
    magic: int = PROC_SUPER_MAGIC
    root_ino: int = PROC_ROOT_INO
    readonly: bool = False  # like Linux: mounted rw, entries decide (comm, oom_score_adj are writable)
    _nodes: list[Node] = field(default_factory=list)
    _inos: dict[Node, int] = field(default_factory=dict)
    _born: dict[int, int] = field(default_factory=dict)
    _overrides: dict[int, _Override] = field(default_factory=dict)
    _listing_fds: set[int] = field(default_factory=set)
    sysctl: dict[Entry, bytes] = field(default_factory=dict)  # values written to /proc/sys files

    def __post_init__(self) -> None:
        self._nodes.append(Node(ROOT))  # placeholder for ino 0
        self._intern(Node(ROOT))

    # --- inode numbering ---

    def _intern(self, node: Node) -> int:
        ino = self._inos.get(node)
        if ino is None:
            ino = len(self._nodes)
            self._nodes.append(node)
            self._inos[node] = ino
            self._born[ino] = time.time_ns()
        return ino

    def _node(self, ino: int) -> Node:
        if not 0 < ino < len(self._nodes):
            raise FsError(errno.ENOENT)
        node = self._nodes[ino]
        if node.pid and not self._alive(node):
            raise FsError(errno.ENOENT)
        return node

    def _alive(self, node: Node) -> bool:
        # the identity, not a ProcessInfo: building one resolves the cwd, which may lie inside this very
        # /proc/PID directory and come back here
        ident = self.source.identity(node.pid)
        if ident is None:
            return False
        if node.tid and ident.tids and node.tid not in ident.tids:
            return False
        if node.tid and not ident.tids and node.tid != node.pid:
            return False
        return not (node.fd >= 0 and all(fd.fd != node.fd for fd in self._fds(node.pid)))

    def _fds(self, pid: int) -> list[FdInfo]:
        """source.fds, guarded: resolving the descriptors' paths stats their files, and one of them
        may be this very /proc/PID/fd directory (``ls -l /proc/self/fd``)."""
        if pid in self._listing_fds:
            return []
        self._listing_fds.add(pid)
        try:
            return self.source.fds(pid)
        finally:
            self._listing_fds.discard(pid)

    def process(self, pid: int) -> ProcessInfo:
        proc = self.source.process(pid)
        if proc is None:
            raise FsError(errno.ESRCH)
        return proc

    def identity(self, pid: int) -> Identity:
        ident = self.source.identity(pid)
        if ident is None:
            raise FsError(errno.ESRCH)
        return ident

    def _permitted(self, proc: ProcessInfo | Identity) -> bool:
        """ptrace_may_access(PTRACE_MODE_READ_FSCREDS) for a kernel where root has every capability."""
        uid = self.source.current_uid()
        return uid == 0 or (proc.dumpable and all(u == uid for u in proc.uids[:3]))

    def _task(self, node: Node) -> P.Task:
        proc = self.process(node.pid)
        thread = None
        if node.tid:
            thread = next((t for t in P.Task(self.source, proc, None, True).threads if t.tid == node.tid), None)
            if thread is None:
                raise FsError(errno.ESRCH)
        return P.Task(self.source, proc, thread, self._permitted(proc))

    # --- directory structure ---

    def _children(self, node: Node) -> Iterator[tuple[Node, int]]:
        """(child, readdir cookie) in order; dynamic children get cookies past the static ones."""
        entry = node.entry
        for index, child in enumerate(entry.children, start=3):
            yield Node(child, node.pid, node.tid), index
        base = 3 + len(entry.children)
        if entry.dynamic == PIDS:
            for pid in self.source.pids():
                yield Node(PID_DIR, pid), base + pid
        elif entry.dynamic == TASKS:
            tids = self.identity(node.pid).tids or (node.pid,)
            for tid in sorted(tids):
                yield Node(TID_DIR, node.pid, tid), base + tid
        elif entry.dynamic in (FDS, FDINFOS):
            template = FD_LINK if entry.dynamic == FDS else FDINFO_FILE
            for fd in self._fds(node.pid):
                yield Node(template, node.pid, node.tid, fd.fd), base + fd.fd

    @staticmethod
    def _name(node: Node) -> bytes:
        if node.entry is PID_DIR:
            return b"%d" % node.pid
        if node.entry is TID_DIR:
            return b"%d" % node.tid
        if node.fd >= 0:
            return b"%d" % node.fd
        return node.entry.name

    def lookup(self, dir_ino: int, name: bytes) -> int:
        node = self._node(dir_ino)
        if name == b"..":
            return self._parent(dir_ino)
        entry = node.entry
        for child in entry.children:
            if child.name == name:
                return self._intern(Node(child, node.pid, node.tid))
        # No negative dentries in /proc (proc_lookup_de, proc_pident_lookup: -ENOENT): a name to be created
        # here fails at its lookup, before link's EXDEV or rename's permission checks.
        if not entry.dynamic or not name.isdigit() or (len(name) > 1 and name.startswith(b"0")):
            raise FsError(errno.ENOENT)
        number = int(name)
        child_node: Node
        if entry.dynamic == PIDS:
            child_node = Node(PID_DIR, number)
        elif entry.dynamic == TASKS:
            child_node = Node(TID_DIR, node.pid, number)
        else:
            template = FD_LINK if entry.dynamic == FDS else FDINFO_FILE
            child_node = Node(template, node.pid, node.tid, number)
        if not self._alive(child_node):
            raise FsError(errno.ENOENT)
        return self._intern(child_node)

    def _parent(self, ino: int) -> int:
        node = self._nodes[ino]
        if ino == PROC_ROOT_INO:
            return ino
        if node.entry is PID_DIR:
            return PROC_ROOT_INO
        if node.entry is TID_DIR:
            return self._intern(Node(next(e for e in PID_DIR.children if e.name == b"task"), node.pid))
        if node.fd >= 0:
            dirname = b"fd" if node.entry is FD_LINK else b"fdinfo"
            parent_entry = next(e for e in (TID_DIR if node.tid else PID_DIR).children if e.name == dirname)
            return self._intern(Node(parent_entry, node.pid, node.tid))
        owner = self._owner_dir(node)
        return self._intern(owner)

    def _owner_dir(self, node: Node) -> Node:
        """The directory node that lists ``node`` among its static children."""
        start = Node(TID_DIR, node.pid, node.tid) if node.tid else Node(PID_DIR, node.pid) if node.pid else Node(ROOT)

        def search(current: Node) -> Node | None:
            for child in current.entry.children:
                if child is node.entry:
                    return current
                if child.children:
                    found = search(Node(child, current.pid, current.tid))
                    if found is not None:
                        return found
            return None

        found = search(start)
        return found if found is not None else start

    def readdir(self, dir_ino: int, offset: int) -> Iterable[DirEntry]:
        node = self._node(dir_ino)
        out: list[DirEntry] = []
        if offset < 1:
            out.append(DirEntry(b".", dir_ino, stat.S_IFDIR >> 12, 1))
        if offset < 2:
            out.append(DirEntry(b"..", self._parent(dir_ino), stat.S_IFDIR >> 12, 2))
        for child, cookie in self._children(node):
            if cookie > offset:
                ino = self._intern(child)
                out.append(DirEntry(self._name(child), ino, stat.S_IFMT(child.entry.mode) >> 12, cookie))
        return out

    def find_name(self, dir_ino: int, ino: int) -> bytes | None:
        if not 0 < ino < len(self._nodes) or self._parent(ino) != dir_ino:
            return None
        return self._name(self._nodes[ino])

    # --- attributes ---

    def getattr(self, ino: int) -> Attr:
        node = self._node(ino)
        entry = node.entry
        mode, uid, gid = entry.mode, 0, 0
        if node.pid:
            ident = self.identity(node.pid)
            if ident.dumpable:
                uid, gid = ident.uids[1], ident.gids[1]
            if node.fd >= 0 and entry is FD_LINK:
                mode = stat.S_IFLNK | self._fd_link_mode(node)
        nlink = 1
        size = 0
        if stat.S_ISDIR(mode):
            nlink = _subdirs(entry) + 2
            if entry.dynamic == PIDS:
                nlink += len(self.source.pids())
            elif entry.dynamic == FDS:
                size = len(self._fds(node.pid))
        elif node.fd >= 0 and entry is FD_LINK:
            size = 64
        born = self._born[ino]
        times = (born, born, born)
        override = self._overrides.get(ino)
        if override is not None:
            uid = override.uid if override.uid is not None else uid
            gid = override.gid if override.gid is not None else gid
            mode = stat.S_IFMT(mode) | override.mode if override.mode is not None else mode
            times = override.times or times
        return Attr(ino, mode, nlink, uid, gid, 0, size, *times, blocks=0, blksize=1024)

    def _fd_link_mode(self, node: Node) -> int:
        # fs/proc/fd.c tid_fd_update_inode: r-x for readable, -wx for writable descriptors
        for fd in self._fds(node.pid):
            if fd.fd == node.fd:
                acc = fd.flags & os.O_ACCMODE
                mode = 0
                if acc in (os.O_RDONLY, os.O_RDWR):
                    mode |= 0o500
                if acc in (os.O_WRONLY, os.O_RDWR):
                    mode |= 0o300
                return mode
        raise FsError(errno.ENOENT)

    def setattr(self, ino: int, changes: SetAttr) -> None:
        # fs/proc/base.c proc_setattr: no chmod under /proc/PID; other changes live in the inode only
        node = self._node(ino)
        if changes.mode is not None and node.pid:
            raise FsError(errno.EPERM)
        override = self._overrides.setdefault(ino, _Override())
        if changes.mode is not None:
            override.mode = changes.mode & 0o7777
        if changes.uid is not None:
            override.uid = changes.uid
        if changes.gid is not None:
            override.gid = changes.gid
        if changes.atime_ns is not None or changes.mtime_ns is not None or changes.ctime_ns is not None:
            attr = self.getattr(ino)
            override.times = (
                changes.atime_ns if changes.atime_ns is not None else attr.atime_ns,
                changes.mtime_ns if changes.mtime_ns is not None else attr.mtime_ns,
                changes.ctime_ns if changes.ctime_ns is not None else attr.ctime_ns,
            )

    # --- files and links ---

    def readlink(self, ino: int) -> bytes:
        node = self._node(ino)
        link = node.entry.link
        if link is None:
            raise FsError(errno.EINVAL)
        if node.entry.ptrace and not self._permitted(self.identity(node.pid)):
            raise FsError(errno.EACCES)
        return link(node, self)

    def open_file(self, ino: int, flags: int) -> FileOps | None:
        node = self._node(ino)
        entry = node.entry
        if entry.render is None:
            return None
        if node.pid and entry.ptrace and not self._permitted(self.identity(node.pid)):
            raise FsError(errno.EACCES)
        data = b""
        if flags & os.O_ACCMODE != os.O_WRONLY:
            data = self.render(node)
        writer = None
        if entry.write is not None:
            write = entry.write

            def writer(payload: bytes) -> None:
                write(node, self, payload)

        # per-process files have no ->write (vfs_write: EINVAL); global proc_ops files answer EIO
        write_errno = errno.EINVAL if node.pid else errno.EIO
        return ProcSnapshot(data, writer, write_errno)

    def render(self, node: Node) -> bytes:
        """The content of a file node now (what an open would snapshot)."""
        render = node.entry.render
        assert render is not None
        kept = self.sysctl.get(node.entry)
        if kept is not None:
            return kept
        if node.fd >= 0:
            for fd in self._fds(node.pid):
                if fd.fd == node.fd:
                    return render(fd)
            raise FsError(errno.ENOENT)
        if node.pid:
            return render(self._task(node))
        return render(self.source)

    def path_ino(self, path: bytes) -> int:
        """The inode at a /proc-relative path (b"self/stat"), following symlinks inside /proc: for tests,
        tools and benchmarks that read /proc without a VFS."""
        ino = PROC_ROOT_INO
        parts = [p for p in path.split(b"/") if p]
        hops = 0
        while parts:
            name = parts.pop(0)
            found = self.lookup(ino, name)  # ENOENT itself for a missing name
            node = self._nodes[found]
            if node.entry.link is not None and (parts or node.entry.name in (b"self", b"thread-self")):
                hops += 1
                if hops > 40:
                    raise FsError(errno.ELOOP)
                target = self.readlink(found)
                if target.startswith(b"/"):
                    raise FsError(errno.EXDEV)
                parts = [p for p in target.split(b"/") if p] + parts
                ino = self._parent(found)
                continue
            ino = found
        return ino

    def read_path(self, path: bytes) -> bytes:
        """Render the file at ``path`` (see path_ino)."""
        node = self._node(self.path_ino(path))
        if node.entry.render is None:
            raise FsError(errno.EISDIR if stat.S_ISDIR(node.entry.mode) else errno.EINVAL)
        if node.pid and node.entry.ptrace and not self._permitted(self.identity(node.pid)):
            raise FsError(errno.EACCES)
        return self.render(node)
