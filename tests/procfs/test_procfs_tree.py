"""ProcFs as a Filesystem: self / thread-self, readdir, stable inode numbers, permissions and the
errno of every refused operation (as Linux gives them: see the host checks in each test)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import SetAttr
from procfs.source import FdInfo, ProcessInfo, StaticSource, ThreadInfo, Vma
from procfs.table import PROC_ROOT_INO, ProcFs


@pytest.fixture
def source() -> StaticSource:
    s = StaticSource(caller_pid=10, caller_tid=10, caller_uid=1000)
    s.add(ProcessInfo(pid=1, ppid=0, comm=b"init", cmdline=b"/sbin/init\0", environ=b"HOME=/\0"))
    s.add(
        ProcessInfo(
            pid=10, ppid=1, comm=b"sh", uids=(1000,) * 4, gids=(1000,) * 4, environ=b"A=1\0",
            threads=[ThreadInfo(10, b"sh"), ThreadInfo(12, b"worker")], exe=b"/bin/sh",
        ),
        vmas=[Vma(0x400000, 0x401000, "r-xp", 0, 8, 1, 1234, b"/bin/sh"), Vma(0x7000, 0x8000, "rw-p")],
        fds=[FdInfo(0, b"/dev/pts/0", flags=os.O_RDWR), FdInfo(3, b"pipe:[77]", flags=os.O_WRONLY)],
    )  # fmt: skip
    return s


def _open_read(fs: ProcFs, path: bytes, flags: int = os.O_RDONLY) -> bytes:
    ops = fs.open_file(fs.path_ino(path), flags)
    assert ops is not None
    return ops.read(None, 1 << 20, 0)  # type: ignore[arg-type]


def test_self_and_thread_self_point_at_the_caller(source: StaticSource) -> None:
    fs = ProcFs(source)
    assert fs.readlink(fs.lookup(PROC_ROOT_INO, b"self") or 0) == b"10"
    assert fs.readlink(fs.lookup(PROC_ROOT_INO, b"thread-self") or 0) == b"10/task/10"
    source.caller_pid = source.caller_tid = 1
    assert fs.read_path(b"self/comm") == b"init\n"
    source.caller_pid = 0
    with pytest.raises(FsError) as e:
        fs.readlink(fs.lookup(PROC_ROOT_INO, b"self") or 0)
    assert e.value.errno == errno.ENOENT


def test_root_readdir_lists_entries_then_pids_and_resumes_by_cookie(source: StaticSource) -> None:
    fs = ProcFs(source)
    entries = list(fs.readdir(PROC_ROOT_INO, 0))
    names = [e.name for e in entries]
    assert names[:2] == [b".", b".."]
    assert names[-2:] == [b"1", b"10"]
    for needed in (b"cpuinfo", b"meminfo", b"self", b"thread-self", b"sys", b"mounts", b"net"):
        assert needed in names
    middle = entries[5]
    rest = [e.name for e in fs.readdir(PROC_ROOT_INO, middle.offset)]
    assert rest == names[6:]
    # a process that exits between two readdir calls does not shift the others
    del source.procs[1]
    assert [e.name for e in fs.readdir(PROC_ROOT_INO, entries[-2].offset)] == [b"10"]


def test_inode_numbers_are_stable_per_pid_and_entry(source: StaticSource) -> None:
    fs = ProcFs(source)
    a = fs.path_ino(b"10/stat")
    b = fs.path_ino(b"1/stat")
    assert a != b
    assert fs.path_ino(b"10/stat") == a == fs.path_ino(b"self/stat")
    assert fs.path_ino(b"10/task/12/stat") not in (a, b)
    assert fs.getattr(a).ino == a


def missing(fs: ProcFs, dir_ino: int, name: bytes) -> bool:
    """proc's lookup of a name that is not there fails with ENOENT (no negative dentries, as Linux)."""
    with pytest.raises(FsError) as e:
        fs.lookup(dir_ino, name)
    return e.value.errno == errno.ENOENT


def test_dead_process_is_ENOENT(source: StaticSource) -> None:
    fs = ProcFs(source)
    ino = fs.path_ino(b"1/status")
    del source.procs[1]
    assert missing(fs, PROC_ROOT_INO, b"1")
    with pytest.raises(FsError) as e:
        fs.getattr(ino)
    assert e.value.errno == errno.ENOENT


def test_lookup_rejects_non_canonical_numbers(source: StaticSource) -> None:
    fs = ProcFs(source)
    assert missing(fs, PROC_ROOT_INO, b"010")
    assert missing(fs, PROC_ROOT_INO, b"99")
    assert missing(fs, fs.path_ino(b"10/fd"), b"1")
    assert missing(fs, fs.path_ino(b"10/task"), b"11")


def test_task_dir_lists_threads_with_their_own_comm(source: StaticSource) -> None:
    fs = ProcFs(source)
    names = [e.name for e in fs.readdir(fs.path_ino(b"10/task"), 0)]
    assert names == [b".", b"..", b"10", b"12"]
    assert fs.read_path(b"10/task/12/comm") == b"worker\n"
    assert fs.read_path(b"10/task/12/stat").startswith(b"12 (worker) S 1 ")
    assert b"\nThreads:\t2\n" in fs.read_path(b"10/status")
    assert b"\nPid:\t12\n" in fs.read_path(b"10/task/12/status")


def test_environ_of_another_user_is_EACCES_but_own_is_readable(source: StaticSource) -> None:
    fs = ProcFs(source)
    assert _open_read(fs, b"10/environ") == b"A=1\0"
    attr = fs.getattr(fs.path_ino(b"1/environ"))
    assert (stat.S_IMODE(attr.mode), attr.uid) == (0o400, 0)
    for path in (b"1/environ", b"1/maps", b"1/auxv"):
        with pytest.raises(FsError) as e:
            fs.open_file(fs.path_ino(path), os.O_RDONLY)
        assert e.value.errno == errno.EACCES
    with pytest.raises(FsError) as e:
        fs.readlink(fs.path_ino(b"1/exe"))
    assert e.value.errno == errno.EACCES
    # stat of another user's process hides the address-space fields (start_code prints 1, like Linux)
    fields = fs.read_path(b"1/stat").split(b") ")[1].split()
    assert fields[23:25] == [b"1", b"1"]
    source.caller_uid = 0
    assert _open_read(fs, b"1/environ") == b"HOME=/\0"


def test_fd_links_modes_follow_the_access_mode(source: StaticSource) -> None:
    fs = ProcFs(source)
    assert stat.S_IMODE(fs.getattr(fs.path_ino(b"10/fd/0")).mode) == 0o700
    assert stat.S_IMODE(fs.getattr(fs.path_ino(b"10/fd/3")).mode) == 0o300
    assert fs.readlink(fs.path_ino(b"10/fd/3")) == b"pipe:[77]"
    assert fs.read_path(b"10/fdinfo/3") == b"pos:\t0\nflags:\t01\nmnt_id:\t0\nino:\t0\n"


def test_snapshot_partial_reads_and_seek_end(source: StaticSource) -> None:
    fs = ProcFs(source)
    ops = fs.open_file(fs.path_ino(b"10/maps"), os.O_RDONLY)
    assert ops is not None and ops.seekable
    whole = ops.read(None, 4096, 0)  # type: ignore[arg-type]
    assert whole.startswith(b"00400000-00401000 r-xp 00000000 08:01 1234")
    assert whole.endswith(b"00007000-00008000 rw-p 00000000 00:00 0 \n")
    assert ops.read(None, 5, 3) == whole[3:8]  # type: ignore[arg-type]
    assert ops.read(None, 10, 10_000) == b""  # type: ignore[arg-type]
    source.maps[10].clear()  # the snapshot does not change after open
    assert ops.read(None, 4096, 0) == whole  # type: ignore[arg-type]
    with pytest.raises(FsError) as e:
        ops.size(None)  # type: ignore[arg-type]
    assert e.value.errno == errno.EINVAL


def test_comm_write_truncates_keeps_newline_and_only_own_group(source: StaticSource) -> None:
    # host: write(b"abcdefghijklmnopqrstuvwxyz") -> "abcdefghijklmno\n"; b"foo\n" -> "foo\n\n";
    # another process's comm -> EINVAL
    fs = ProcFs(source)
    ops = fs.open_file(fs.path_ino(b"10/comm"), os.O_WRONLY)
    assert ops is not None
    assert ops.write(None, b"abcdefghijklmnopqrstuvwxyz", 0) == 26  # type: ignore[arg-type]
    assert fs.read_path(b"10/comm") == b"abcdefghijklmno\n"
    ops.write(None, b"foo\n", 0)  # type: ignore[arg-type]
    assert fs.read_path(b"10/comm") == b"foo\n\n"
    ops = fs.open_file(fs.path_ino(b"10/task/12/comm"), os.O_WRONLY)
    assert ops is not None
    ops.write(None, b"w2", 0)  # type: ignore[arg-type]
    assert fs.read_path(b"10/task/12/comm") == b"w2\n"
    other = fs.open_file(fs.path_ino(b"1/comm"), os.O_WRONLY)
    assert other is not None
    with pytest.raises(FsError) as e:
        other.write(None, b"x", 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("data", "result"),
    [(b"5\n", b"5\n"), (b" 7 ", b"7\n"), (b"1001", errno.EINVAL), (b"abc", errno.EINVAL), (b"", errno.EINVAL),
     (b"-1000", errno.EACCES)],
)  # fmt: skip
def test_oom_score_adj_write_like_host(source: StaticSource, data: bytes, result: bytes | int) -> None:
    fs = ProcFs(source)
    ops = fs.open_file(fs.path_ino(b"10/oom_score_adj"), os.O_WRONLY)
    assert ops is not None
    if isinstance(result, int):
        with pytest.raises(FsError) as e:
            ops.write(None, data, 0)  # type: ignore[arg-type]
        assert e.value.errno == result
    else:
        assert ops.write(None, data, 0) == len(data)  # type: ignore[arg-type]
        assert fs.read_path(b"10/oom_score_adj") == result


def test_write_to_read_only_entries_gives_linux_errno(source: StaticSource) -> None:
    # host (root): write to /proc/self/stat -> EINVAL, to /proc/cpuinfo -> EIO
    fs = ProcFs(source)
    for path, err in ((b"10/stat", errno.EINVAL), (b"10/maps", errno.EINVAL), (b"cpuinfo", errno.EIO)):
        ops = fs.open_file(fs.path_ino(path), os.O_WRONLY)
        assert ops is not None
        with pytest.raises(FsError) as e:
            ops.write(None, b"x", 0)  # type: ignore[arg-type]
        assert e.value.errno == err


def test_namespace_operations_are_refused_like_linux(source: StaticSource) -> None:
    # host: mkdir /proc/x and touch /proc/foo -> ENOENT; chmod /proc/self/stat -> EPERM
    fs = ProcFs(source)
    for call in (
        lambda: fs.mkdir(PROC_ROOT_INO, b"x", 0o755, 0, 0, 0),
        lambda: fs.create(PROC_ROOT_INO, b"x", stat.S_IFREG | 0o644, 0, 0, 0, 0),
        lambda: fs.symlink(fs.path_ino(b"10"), b"x", b"y", 0, 0, 0),
    ):
        with pytest.raises(FsError) as e:
            call()
        assert e.value.errno == errno.ENOENT
    with pytest.raises(FsError) as e:
        fs.setattr(fs.path_ino(b"10/stat"), SetAttr(mode=0o777))
    assert e.value.errno == errno.EPERM
    with pytest.raises(FsError) as e:
        fs.unlink(fs.path_ino(b"10"), b"stat")
    assert e.value.errno == errno.EPERM
    with pytest.raises(FsError) as e:
        fs.getxattr(fs.path_ino(b"10/stat"), b"user.x")
    assert e.value.errno == errno.EOPNOTSUPP


def test_hostname_write_reaches_the_source(source: StaticSource) -> None:
    fs = ProcFs(source)
    ops = fs.open_file(fs.path_ino(b"sys/kernel/hostname"), os.O_WRONLY)
    assert ops is not None
    ops.write(None, b"newname\n", 0)  # type: ignore[arg-type]
    assert source.sysinfo.hostname == b"newname"
    assert fs.read_path(b"sys/kernel/hostname") == b"newname\n"


def test_find_name_and_dotdot_walk_back_up(source: StaticSource) -> None:
    fs = ProcFs(source)
    stat_ino = fs.path_ino(b"10/task/12/stat")
    tid_dir = fs.path_ino(b"10/task/12")
    assert fs.lookup(tid_dir, b"..") == fs.path_ino(b"10/task")
    assert fs.lookup(fs.path_ino(b"10/task"), b"..") == fs.path_ino(b"10")
    assert fs.lookup(fs.path_ino(b"10"), b"..") == PROC_ROOT_INO
    assert fs.lookup(PROC_ROOT_INO, b"..") == PROC_ROOT_INO
    assert fs.lookup(fs.path_ino(b"sys/kernel/random"), b"..") == fs.path_ino(b"sys/kernel")
    assert fs.find_name(tid_dir, stat_ino) == b"stat"
    assert fs.find_name(fs.path_ino(b"10/fd"), fs.path_ino(b"10/fd/3")) == b"3"
    assert fs.find_name(PROC_ROOT_INO, fs.path_ino(b"10")) == b"10"


@pytest.mark.parametrize(
    ("path", "bad"),
    [(b"sys/kernel/pid_max", [b"abc", b"100", b"4194305"]), (b"sys/vm/overcommit_memory", [b"3", b"-1", b"x"]),
     (b"sys/fs/nr_open", [b"63", b"zz"])],
)  # fmt: skip
def test_sysctl_writes_validate_like_host(source: StaticSource, path: bytes, bad: list[bytes]) -> None:
    fs = ProcFs(source)
    host_path = b"/proc/" + path
    current = open(host_path, "rb").read()  # noqa: SIM115
    for data in bad:  # refused values leave the host unchanged, so the host can be asked too
        fd = os.open(host_path, os.O_WRONLY)
        try:
            with pytest.raises(OSError) as host:
                os.write(fd, data)
        finally:
            os.close(fd)
        ops = fs.open_file(fs.path_ino(path), os.O_WRONLY)
        assert ops is not None
        with pytest.raises(FsError) as ours:
            ops.write(None, data, 0)  # type: ignore[arg-type]
        assert ours.value.errno == host.value.errno == errno.EINVAL, data
    ops = fs.open_file(fs.path_ino(path), os.O_WRONLY)
    assert ops is not None
    assert ops.write(None, b"", 0) == 0  # type: ignore[arg-type]  # as the host: nothing happens
    assert ops.write(None, b" " + current, 0) == len(current) + 1  # type: ignore[arg-type]
    assert fs.read_path(path) == current  # kept and read back
