"""`lxfs mount`/`lxfs umount`: the lifecycle, -o ro, clean unmount on signals, and one clear error
for each usual failure."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time

import pytest

from lxfs.fuse import MountError, mounted_source
from lxfs.fuse_mount import check_fuse_device, pidfile_for, wait_for_exit

from .conftest import Mounted, fsck_problems, lxfs


def _error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    return " ".join((res.stderr + res.stdout).split())


def _server_pid(mp: str) -> int:
    with open(pidfile_for(mp)) as f:
        return int(f.read())


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    assert wait_for_exit(pid, timeout), f"server {pid} still running"


def test_mount_serves_and_umount_waits_for_the_server(mounted: Mounted) -> None:
    pid = _server_pid(mounted.path)
    with open(os.path.join(mounted.path, "f"), "w") as f:
        f.write("data")
    assert mounted_source(mounted.path) == "lxfs:" + mounted.image
    mounted.umount()
    assert mounted_source(mounted.path) is None
    _wait_gone(pid, 0.1)  # umount returned after the server finished
    assert not os.path.exists(pidfile_for(mounted.path))
    assert fsck_problems(mounted.image) == []
    lxfs("mount", mounted.image, mounted.path)
    with open(os.path.join(mounted.path, "f")) as f:
        assert f.read() == "data"


def test_read_only_mount_refuses_writes(mounted: Mounted) -> None:
    with open(os.path.join(mounted.path, "f"), "w") as f:
        f.write("x")
    mounted.umount()
    lxfs("mount", "-o", "ro", mounted.image, mounted.path)
    with pytest.raises(OSError) as exc:
        os.open(os.path.join(mounted.path, "g"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert exc.value.errno == errno.EROFS
    with open(os.path.join(mounted.path, "f")) as f:
        assert f.read() == "x"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_cleanly(mounted: Mounted, sig: signal.Signals) -> None:
    with open(os.path.join(mounted.path, "f"), "w") as f:
        f.write("kept")
    pid = _server_pid(mounted.path)
    os.kill(pid, sig)
    _wait_gone(pid)
    assert mounted_source(mounted.path) is None
    assert not os.path.exists(pidfile_for(mounted.path))
    assert fsck_problems(mounted.image) == []


@pytest.mark.parametrize("poll", ["poll_us=0", "poll_us=100000"])
def test_poll_option_and_signal_while_busy(mounted: Mounted, poll: str) -> None:
    """-o poll_us=N (0: sleep at once; 100 ms: requests of a busy client are all taken by polling);
    either way a signal ends the server while a client keeps it busy."""
    import threading

    mounted.umount()
    lxfs("mount", "-o", poll, mounted.image, mounted.path)
    f = os.path.join(mounted.path, "f")
    for _ in range(50):
        os.close(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        assert os.stat(f).st_nlink == 1
        os.unlink(f)
    done = threading.Event()

    def busy() -> None:
        while not done.is_set():
            try:
                os.stat(mounted.path + "/")
                os.listdir(mounted.path)
            except OSError:
                return  # unmounted under us

    client = threading.Thread(target=busy)
    client.start()
    try:
        time.sleep(0.2)
        pid = _server_pid(mounted.path)
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
    finally:
        done.set()
        client.join()
    assert mounted_source(mounted.path) is None
    assert fsck_problems(mounted.image) == []


def test_bad_poll_option(mounted: Mounted) -> None:
    mounted.umount()
    msg = _error(lxfs("mount", "-o", "poll_us=soon", mounted.image, mounted.path, check=False))
    assert "unknown option 'poll_us=soon'" in msg


def test_stale_mount_point_says_to_umount(mounted: Mounted) -> None:
    pid = _server_pid(mounted.path)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    msg = _error(lxfs("mount", mounted.image, mounted.path, check=False))
    assert "stale" in msg and f"lxfs umount {mounted.path}" in msg
    lxfs("umount", mounted.path)
    assert mounted_source(mounted.path) is None
    lxfs("mount", mounted.image, mounted.path)  # usable again; the fixture's fsck checks the image


def test_busy_mount_point(mounted: Mounted) -> None:
    msg = _error(lxfs("mount", mounted.image, mounted.path, check=False))
    assert "busy" in msg and "already a mount point" in msg


def test_image_in_use(mounted: Mounted, tmp_path: object) -> None:
    other = os.path.join(os.path.dirname(mounted.path), "other")
    os.mkdir(other)
    msg = _error(lxfs("mount", mounted.image, other, check=False))
    assert "in use" in msg and mounted.path in msg


def test_non_empty_mount_point(mounted: Mounted) -> None:
    full = os.path.join(os.path.dirname(mounted.path), "full")
    os.mkdir(full)
    open(os.path.join(full, "x"), "w").close()
    msg = _error(lxfs("mount", mounted.image, full, check=False))
    assert "not empty" in msg


def test_missing_image(mounted: Mounted) -> None:
    empty = os.path.join(os.path.dirname(mounted.path), "e")
    os.mkdir(empty)
    msg = _error(lxfs("mount", "/nonexistent/x.img", empty, check=False))
    assert "no such image" in msg


def test_missing_mount_point_and_not_mounted(mounted: Mounted) -> None:
    assert "no such directory" in _error(lxfs("mount", mounted.image, "/nonexistent/mp", check=False))
    here = os.path.dirname(mounted.path)
    assert "not mounted" in _error(lxfs("umount", here, check=False))


def test_missing_fuse_device_is_one_clear_error() -> None:
    with pytest.raises(MountError, match="missing: load the fuse module"):
        check_fuse_device("/nonexistent/fuse")


def test_umount_of_busy_mount_says_busy(mounted: Mounted) -> None:
    proc = subprocess.Popen(["sleep", "30"], cwd=mounted.path)
    try:
        time.sleep(0.2)
        assert "busy" in _error(lxfs("umount", mounted.path, check=False))
    finally:
        proc.kill()
        proc.wait()


def _corrupt_under_the_server(image: str) -> None:
    """Garble every B-tree page but the schema's, then commit from another connection so that the
    server rereads the database at its next request."""
    import sqlite3

    db = sqlite3.connect(image)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.close()
    with open(image, "r+b") as f:
        for page in range(1, pages):
            f.seek(page * page_size + 8)
            f.write(b"\xa5" * 64)
    db = sqlite3.connect(image)
    db.execute("PRAGMA user_version = 7")  # page 1 only, which is intact
    db.commit()
    db.close()


def test_log_has_the_server_life_and_why_requests_failed(tmp_path: object) -> None:
    from lxfs.volfs.volfs import VolFs

    base = str(tmp_path)
    image, mp, log = os.path.join(base, "i.img"), os.path.join(base, "mnt"), os.path.join(base, "server.log")
    VolFs.create(image).close()
    os.mkdir(mp)
    lxfs("mount", "--log", log, image, mp)
    try:
        os.mkdir(os.path.join(mp, "d"))
        for i in range(200):
            with open(os.path.join(mp, "d", f"f{i}"), "w") as f:
                f.write("x" * i)
        _corrupt_under_the_server(image)
        time.sleep(1.2)  # past the attribute and entry timeouts: the kernel asks the server again
        with pytest.raises(OSError) as exc:
            os.listdir(os.path.join(mp, "d"))
        assert exc.value.errno == errno.EIO
    finally:
        lxfs("umount", mp)
    with open(log) as f:
        lines = f.read().splitlines()
    pid = r"lxfs mount\[\d+\]"
    assert re.fullmatch(rf"\S+ \S+ {pid} INFO: serving {re.escape(image)} on {re.escape(mp)} \(read-write\)", lines[0])
    assert any(
        re.fullmatch(rf"\S+ \S+ {pid} WARNING: FUSE \w+: lxfs image: database disk image is malformed", li)
        for li in lines
    )
    assert any(re.fullmatch(rf"\S+ \S+ {pid} INFO: {re.escape(mp)}: unmounted", li) for li in lines)
    assert not any("Traceback" in li for li in lines)


def test_log_that_cannot_be_opened(mounted: Mounted) -> None:
    mounted.umount()
    res = lxfs("mount", "--log", "/nonexistent/server.log", mounted.image, mounted.path, check=False)
    assert res.returncode == 2
    assert "--log /nonexistent/server.log: cannot open it (No such file or directory)" in _error(res)
    assert mounted_source(mounted.path) is None


def test_server_leaves_the_callers_directory(mounted: Mounted) -> None:
    """Mounted with a relative image path, the server runs in / (so it keeps no file system busy) and still
    finds the image's files: fsync syncs the -wal, the background checkpointer copies a 40 MiB write out."""
    from lxfs.volfs.layout import PAGE_SIZE
    from lxfs.volfs.store import CHECKPOINT_AFTER, WalIndex

    mounted.umount()
    here = os.path.dirname(mounted.image)
    res = subprocess.run(
        ["lxfs", "mount", os.path.basename(mounted.image), "mnt"], cwd=here, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    pid = _server_pid(mounted.path)
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    with open(os.path.join(mounted.path, "big"), "wb") as f:
        f.write(b"x" * (40 << 20))
        os.fsync(f.fileno())  # VolFs opens the -wal by name to sync it
    index = WalIndex(mounted.image)
    frame = PAGE_SIZE + 24  # a WAL frame: its header and one page of a new image
    try:
        deadline = time.monotonic() + 10
        while index.pending_frames() * frame >= CHECKPOINT_AFTER and time.monotonic() < deadline:
            time.sleep(0.05)
        assert index.pending_frames() * frame < CHECKPOINT_AFTER  # 40 MiB was written into the WAL
    finally:
        index.close()


def test_times_beyond_the_image_range_are_clamped_and_the_mount_goes_on(mounted: Mounted) -> None:
    """touch -d 2400-01-01 through the mount: the image holds times up to 2262-04-11 (signed 64-bit ns),
    so it keeps that bound, as Linux's timestamp_truncate() does for a file system's s_time_max. It used to
    fail with EIO and leave the server's transaction open, so that every later write failed too."""
    f = os.path.join(mounted.path, "future")
    subprocess.run(["touch", "-d", "2400-01-01", f], check=True)
    subprocess.run(["touch", "-d", "1500-01-01", os.path.join(mounted.path, "past")], check=True)
    assert os.stat(f).st_mtime_ns == ((2**63 - 1) // 10**9) * 10**9
    assert os.stat(os.path.join(mounted.path, "past")).st_mtime_ns == -((2**63 - 1) // 10**9) * 10**9
    with open(os.path.join(mounted.path, "after"), "w") as out:
        out.write("still writable")
    with open(os.path.join(mounted.path, "after")) as back:
        assert back.read() == "still writable"
