"""`lxfs mount --uid-map/--gid-map/--as-guest`: guest ids on the host. The oracle is Linux's own id
mapping, an idmapped mount of a host tmpfs with the same tree and the same maps: the same operations by
the same host users must give the same results there and on the mount, and leave the same guest tree."""

from __future__ import annotations

import difflib
import errno
import functools
import json
import os
import stat
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.fuse.conftest import Mounted, lxfs
from tests.fuse.idmapped import idmapped_mount

UID_MAP = ["0:1000:1", "1000:2000:10"]  # guest 0 is host 1000, guests 1000-1009 are hosts 2000-2009
GID_MAP = ["0:1000:1", "1000:2000:10"]
ROOT, GUEST_ROOT, GUEST_USER, OUTSIDER = 0, 1000, 2000, 3000  # host users (root and 3000 are unmapped)


def build(top: str) -> None:
    """The guest's tree, made by host root with guest ids (ids outside the maps included)."""

    def make(path: str, mode: int, uid: int, gid: int, data: bytes | None = None) -> None:
        p = os.path.join(top, path)
        if data is None:
            os.mkdir(p)
        else:
            with open(p, "wb") as f:
                f.write(data)
        os.chown(p, uid, gid)
        os.chmod(p, mode)

    make("a", 0o644, 0, 0, b"A")
    make("b", 0o644, 1000, 1000, b"B")
    make("c", 0o666, 2000, 2000, b"C")  # 2000 is in neither map
    make("d", 0o777, 0, 0)
    make("e", 0o755, 1000, 1000)
    make("t", 0o1777, 0, 0)
    make("t/f", 0o644, 1000, 1000, b"F")
    make("mixed", 0o666, 1000, 2000, b"M")  # owner mapped, group not
    make("u", 0o777, 2000, 2000)
    make("u/k", 0o666, 0, 0, b"K")
    os.symlink("a", os.path.join(top, "l"))
    os.lchown(os.path.join(top, "l"), 0, 0)


def _write(path: str, data: bytes, flags: int = os.O_WRONLY | os.O_CREAT) -> None:
    fd = os.open(path, flags, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode()


# (host uid, what, operation on the top directory): run in this order, each in a process of that user
SCENARIO: list[tuple[int, str, Callable[[str], Any]]] = [
    (GUEST_USER, "create in own directory", lambda top: _write(f"{top}/e/new", b"n")),
    (GUEST_USER, "mkdir in own directory", lambda top: os.mkdir(f"{top}/e/sub")),
    (GUEST_USER, "chmod own file", lambda top: os.chmod(f"{top}/b", 0o600)),
    (GUEST_USER, "chown own file to another user", lambda top: os.chown(f"{top}/b", GUEST_ROOT, -1)),
    (GUEST_USER, "write another's file", lambda top: _write(f"{top}/a", b"x")),
    (GUEST_USER, "unlink own file in sticky dir", lambda top: os.unlink(f"{top}/t/f")),
    (GUEST_ROOT, "write guest root's file", lambda top: _write(f"{top}/a", b"AA", os.O_WRONLY | os.O_APPEND)),
    (GUEST_ROOT, "chmod guest root's file", lambda top: os.chmod(f"{top}/a", 0o664)),
    (GUEST_ROOT, "create in guest root's dir", lambda top: _write(f"{top}/d/r", b"r")),
    (GUEST_ROOT, "unlink a guest user's file", lambda top: os.unlink(f"{top}/b")),
    (GUEST_ROOT, "unlink a file with unmapped ids", lambda top: os.unlink(f"{top}/c")),
    (GUEST_ROOT, "create in a dir with unmapped ids", lambda top: _write(f"{top}/u/x", b"x")),
    (GUEST_ROOT, "unlink in a dir with unmapped ids", lambda top: os.unlink(f"{top}/u/k")),
    (GUEST_ROOT, "write a file in a dir with unmapped ids", lambda top: _write(f"{top}/u/k", b"k", os.O_WRONLY)),
    (GUEST_ROOT, "rename out of a dir with unmapped ids", lambda top: os.rename(f"{top}/u/k", f"{top}/d/k")),
    (OUTSIDER, "read", lambda top: _read(f"{top}/a")),
    (OUTSIDER, "create", lambda top: _write(f"{top}/d/x", b"x")),
    (OUTSIDER, "mkdir", lambda top: os.mkdir(f"{top}/d/y")),
    (OUTSIDER, "symlink", lambda top: os.symlink("a", f"{top}/d/s")),
    (OUTSIDER, "write an unmapped file", lambda top: _write(f"{top}/c", b"c", os.O_WRONLY | os.O_APPEND)),
    (OUTSIDER, "truncate an unmapped file", lambda top: _write(f"{top}/c", b"c", os.O_WRONLY | os.O_TRUNC)),
    (OUTSIDER, "unlink a mapped file in a 777 dir", lambda top: os.unlink(f"{top}/d/r")),
    (ROOT, "chown to an unmapped uid", lambda top: os.chown(f"{top}/a", 4242, -1)),
    (ROOT, "chown to a mapped uid", lambda top: os.chown(f"{top}/a", GUEST_USER + 1, -1)),
    (ROOT, "chmod a file with unmapped ids", lambda top: os.chmod(f"{top}/c", 0o600)),
    (ROOT, "utimes of a file with unmapped ids", lambda top: os.utime(f"{top}/c", (1, 1))),
    (ROOT, "chown the unmapped owner only", lambda top: os.chown(f"{top}/c", GUEST_USER, -1)),
    (ROOT, "chown owner and group", lambda top: os.chown(f"{top}/c", GUEST_USER, GUEST_USER)),
    (ROOT, "chmod a file with an unmapped group", lambda top: os.chmod(f"{top}/mixed", 0o600)),
    (ROOT, "create", lambda top: _write(f"{top}/d/z", b"z")),
    (ROOT, "link", lambda top: os.link(f"{top}/a", f"{top}/d/a2")),
    (ROOT, "rename to a new name", lambda top: os.rename(f"{top}/l", f"{top}/d/l2")),
    (ROOT, "rename over an existing name", lambda top: os.rename(f"{top}/e/new", f"{top}/a")),
    (ROOT, "setxattr", lambda top: os.setxattr(f"{top}/e", "user.k", b"v")),
    (ROOT, "setxattr on an unmapped group", lambda top: os.setxattr(f"{top}/mixed", "user.k", b"v")),
    (ROOT, "unlink an unmapped group", lambda top: os.unlink(f"{top}/mixed")),
]


def as_user(uid: int, fn: Callable[[], Any]) -> str:
    """``fn`` in a child process with host uid=gid=``uid`` (no supplementary groups): its value or errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            value = fn()
            out = "ok" if value is None else f"ok {value!r}"
        except OSError as exc:
            out = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        except BaseException as exc:  # reported, not raised: the child must not return into pytest
            out = f"{type(exc).__name__}: {exc}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def listing(top: str) -> dict[str, Any]:
    """Every entry: type, mode, owner, group, size, and contents (or target)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            what: Any
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = f.read().decode()
            else:
                what = None
            out[os.path.relpath(p, top)] = [oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, what]
    return out


def play(top: str) -> dict[str, Any]:
    before = listing(top)
    results = [f"{uid} {what}: {as_user(uid, functools.partial(fn, top))}" for uid, what, fn in SCENARIO]
    return {"listing before": before, "results": results, "listing after": listing(top)}


@pytest.fixture
def linux_idmapped(host_dir: str) -> Any:
    src = os.path.join(host_dir, "src")
    os.mkdir(src)
    build(src)
    view = os.path.join(host_dir, "view")  # host_dir's path is open to every user
    os.mkdir(view)
    try:
        idmapped_mount(src, view, UID_MAP, GID_MAP)
    except OSError as exc:
        pytest.skip(f"no idmapped mount of the host tmpfs here: {exc}")
    try:
        yield src, view
    finally:
        subprocess.run(["umount", "-l", view], check=False)


def test_mapped_mount_matches_an_idmapped_mount_of_tmpfs(mounted: Mounted, linux_idmapped: Any) -> None:
    src, view = linux_idmapped
    build(mounted.path)
    mounted.umount()
    view_lxfs = mounted.path + "-mapped"
    os.mkdir(view_lxfs)
    maps = [a for m in UID_MAP for a in ("--uid-map", m)] + [a for m in GID_MAP for a in ("--gid-map", m)]
    lxfs("mount", *maps, mounted.image, view_lxfs)
    try:
        got = play(view_lxfs)
    finally:
        lxfs("umount", view_lxfs)
    want = play(view)
    diff = "\n".join(
        difflib.unified_diff(
            json.dumps(want, indent=1).splitlines(),
            json.dumps(got, indent=1).splitlines(),
            "linux idmapped",
            "lxfs mount",
            lineterm="",
            n=0,
        )
    )
    assert not diff, diff
    # and the guest's tree (the image without a map; the tmpfs itself) is the same
    lxfs("mount", mounted.image, mounted.path)
    assert listing(mounted.path) == listing(src)


def test_as_guest_makes_the_mounting_user_that_guest_user(mounted: Mounted) -> None:
    """`lxfs mount --as-guest 1000` by host root: guest 1000's files are root's, what root creates is
    guest 1000's, guest root's files show as the overflow id and root does not write them."""
    build(mounted.path)
    mounted.umount()
    mine = mounted.path + "-mine"
    os.mkdir(mine)
    lxfs("mount", "--as-guest", "1000", mounted.image, mine)
    try:
        seen = listing(mine)
        _write(f"{mine}/e/new", b"n")
        with pytest.raises(PermissionError):
            _write(f"{mine}/a", b"+", os.O_WRONLY | os.O_APPEND)
    finally:
        lxfs("umount", mine)
    with open("/proc/sys/kernel/overflowuid") as f:
        overflow = int(f.read())
    assert seen["b"][1:3] == [0, 0] and seen["e"][1:3] == [0, 0]
    assert seen["a"][1:3] == [overflow, overflow] and seen["c"][1:3] == [overflow, overflow]
    lxfs("mount", mounted.image, mounted.path)
    guest = listing(mounted.path)
    assert guest["e/new"][1:3] == [1000, 1000] and guest["a"][1:4] == [0, 0, 1] and guest["a"][4] == "A"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--uid-map", "0:1000"], "--uid-map '0:1000': expected GUEST:HOST:COUNT"),
        (["--gid-map", "0:1000:0"], "--gid-map '0:1000:0': COUNT must be at least 1"),
        (["--uid-map", "0:1000:10", "--uid-map", "5:3000:1"], "--uid-map guest ids 0:10 and 5:1 overlap"),
        (["--uid-map", "0:1000:1", "--uid-map", "5:1000:1"], "--uid-map host ids 1000:1 and 1000:1 overlap"),
        (["--uid-map", "0:4294967290:10"], "--uid-map '0:4294967290:10': ids go up to 4294967294"),
        (["--as-guest", "root"], "--as-guest 'root': expected UID or UID:GID"),
        (["--as-guest", "0", "--uid-map", "0:0:1"], "--as-guest is a uid and gid map of its own"),
    ],
)
def test_bad_maps_are_one_clear_error(mounted: Mounted, args: list[str], message: str) -> None:
    res = lxfs("mount", *args, mounted.image, mounted.path + "-x", check=False)
    assert res.returncode == 2
    assert res.stderr.startswith("lxfs mount: " + message), res.stderr
    assert "Traceback" not in res.stderr
