"""The mount and another process writing the same image at once (SQLite WAL serialises them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from .conftest import Mounted

WRITER = textwrap.dedent(
    """
    import os, sys
    from lxfs.vfs.namespace import Namespace
    from lxfs.volfs.volfs import VolFs
    fs = VolFs.open(sys.argv[1])
    print("open", flush=True)
    ns = Namespace(fs)
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/w", 0o755)
    for i in range(300):
        f = ns.openat(ctx, None, b"/w/f%d" % i, os.O_WRONLY | os.O_CREAT, 0o644)
        f.write(b"writer %d\\n" % i * 50)
        f.close()
        if i % 3 == 0:
            ns.renameat2(ctx, None, b"/w/f%d" % i, None, b"/w/r%d" % i)
        if i % 5 == 0:
            ns.unlinkat(ctx, None, b"/w/f%d" % i if i % 3 else b"/w/r%d" % i)
    fs.close()
    print("done")
    """
)


def _expected_writer_files() -> dict[str, bytes]:
    out = {}
    for i in range(300):
        if i % 5 == 0:
            continue
        out[f"r{i}" if i % 3 == 0 else f"f{i}"] = b"writer %d\n" % i * 50
    return out


def test_writer_process_and_mount_at_once(mounted: Mounted) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, mounted.image], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Both at work from the start (the writer's imports take longer than the mount's first calls). With
    # SQLite's -shm locks dropped by a descriptor of lxfs's own (tests/volfs/test_image_locks.py), this
    # scenario with a daemon `lxfs mount` as the server lost the writer's /w in about one run of five.
    assert writer.stdout is not None and writer.stdout.readline() == "open\n"
    mine = os.path.join(mounted.path, "m")
    os.mkdir(mine)
    for i in range(300):
        with open(os.path.join(mine, f"g{i}"), "wb") as f:
            f.write(b"mount %d\n" % i * 50)
        if i % 50 == 0:
            os.listdir(mounted.path)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0 and out.strip() == "done", err
    for i in range(300):
        with open(os.path.join(mine, f"g{i}"), "rb") as f:
            assert f.read() == b"mount %d\n" % i * 50
    seen = {}
    for name in os.listdir(os.path.join(mounted.path, "w")):
        with open(os.path.join(mounted.path, "w", name), "rb") as f:
            seen[name] = f.read()
    assert seen == _expected_writer_files()


MAKE = textwrap.dedent(
    """
    import os, sys
    from lxfs.vfs.namespace import Namespace
    from lxfs.volfs.volfs import VolFs
    with VolFs.open(sys.argv[1]) as fs:
        ns = Namespace(fs)
        ns.openat(ns.context(), None, b"/" + sys.argv[2].encode(), os.O_WRONLY | os.O_CREAT, 0o644).close()
    """
)


def test_missing_names_are_cached_for_the_entry_timeout_only(mounted: Mounted) -> None:
    """The mount answers a missing name with a negative entry the kernel keeps for the entry timeout
    (1 s): a name made through the mount is there at once, one another process makes on the image
    within the timeout (as every other change another process makes: close-to-open coherence)."""
    import time

    mine = os.path.join(mounted.path, "mine")
    theirs = os.path.join(mounted.path, "theirs")
    for path in (mine, theirs):
        assert not os.path.exists(path)
    with open(mine, "w"):
        pass
    assert os.path.exists(mine)  # made through the mount after a failed lookup: at once
    made = time.monotonic()
    subprocess.run([sys.executable, "-c", MAKE, mounted.image, "theirs"], check=True)
    while not os.path.exists(theirs):
        assert time.monotonic() - made < 5, "another process's file never showed on the mount"
        time.sleep(0.05)
    os.unlink(theirs)
    assert not os.path.exists(theirs)  # unlinked through the mount: gone at once
