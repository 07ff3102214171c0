"""fsck finds each kind of injected corruption, and repair leaves a clean image."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from lxfs.volfs import fsck
from lxfs.volfs.layout import CHUNK_SIZE, name_hash
from lxfs.volfs.volfs import VolFs, process_start_time

from .conftest import NOW, new_file


def _populated(image: Path) -> VolFs:
    fs = VolFs.create(image)
    d = fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
    fs.mkdir(d, b"sub", 0o755, 0, 0, NOW)
    new_file(fs, b"f", b"x" * (CHUNK_SIZE + 10))
    new_file(fs, b"g", b"y", parent=d)
    fs.symlink(1, b"l", b"f", 0, 0, NOW)
    return fs


def _ino(fs: VolFs, *path: bytes) -> int:
    ino = 1
    for name in path:
        found = fs.lookup(ino, name)
        assert found is not None
        ino = found
    return ino


def _sql(fs: VolFs, statement: str, *args: object) -> None:
    fs._db.execute(statement, args)
    fs._attrs.clear()
    fs._dentries.clear()


def _orphan_of_dead_process(fs: VolFs, ino: int) -> None:
    _sql(fs, "DELETE FROM dentry WHERE ino = ?", ino)
    _sql(fs, "UPDATE inode SET nlink = 0 WHERE ino = ?", ino)
    _sql(fs, "INSERT INTO orphan (ino, pid, start_time) VALUES (?, 999999999, 1)", ino)


CORRUPTIONS: dict[str, Callable[[VolFs], None]] = {
    "dangling-dentry": lambda fs: _sql(
        fs, "INSERT INTO dentry VALUES (1, ?, ?, 999, 8)", name_hash(b"ghost"), b"ghost"
    ),
    "bad-parent": lambda fs: _sql(fs, "UPDATE dentry SET parent = ? WHERE name = CAST('g' AS BLOB)", _ino(fs, b"f")),
    "nlink": lambda fs: _sql(fs, "UPDATE inode SET nlink = 5 WHERE ino = ?", _ino(fs, b"f")),
    "lost-inode": lambda fs: _sql(fs, "DELETE FROM dentry WHERE name = CAST('g' AS BLOB)"),
    "disconnected": lambda fs: _sql(
        fs, "UPDATE dentry SET parent = ? WHERE name = CAST('d' AS BLOB)", _ino(fs, b"d", b"sub")
    ),  # d/sub/d: a cycle cut off from the root
    "dir-links": lambda fs: _sql(
        fs, "INSERT INTO dentry VALUES (1, ?, ?, ?, 4)", name_hash(b"d2"), b"d2", _ino(fs, b"d")
    ),
    "chunk-beyond-size": lambda fs: _sql(fs, "UPDATE inode SET size = 5 WHERE ino = ?", _ino(fs, b"f")),
    "chunk-size": lambda fs: _sql(
        fs, "UPDATE chunk SET data = zeroblob(?) WHERE ino = ? AND idx = 0", CHUNK_SIZE + 1, _ino(fs, b"f")
    ),
    "chunk-not-file": lambda fs: _sql(fs, "INSERT INTO chunk (ino, idx, data) VALUES (?, 0, x'00')", _ino(fs, b"d")),
    "stray-chunk": lambda fs: _sql(fs, "INSERT INTO chunk (ino, idx, data) VALUES (777, 0, x'00')"),
    "stray-xattr": lambda fs: _sql(fs, "INSERT INTO xattr VALUES (777, ?, x'00')", b"user.a"),
    "stray-orphan": lambda fs: _sql(fs, "INSERT INTO orphan (ino, pid, start_time) VALUES (777, 1, 1)"),
    "dead-orphan": lambda fs: _orphan_of_dead_process(fs, _ino(fs, b"d", b"g")),
    "dentry-hash": lambda fs: _sql(fs, "UPDATE dentry SET hash = 12345 WHERE name = CAST('g' AS BLOB)"),
    "dentry-type": lambda fs: _sql(fs, "UPDATE dentry SET type = 1 WHERE name = CAST('g' AS BLOB)"),
    "dotdot": lambda fs: _sql(fs, "UPDATE inode SET parent = 1 WHERE ino = ?", _ino(fs, b"d", b"sub")),
    "root": lambda fs: _sql(fs, "DELETE FROM inode WHERE ino = 1"),
    "blocks": lambda fs: _sql(fs, "UPDATE inode SET blocks = 1 WHERE ino = ?", _ino(fs, b"f")),
    "symlink-target": lambda fs: _sql(fs, "UPDATE inode SET target = NULL WHERE ino = ?", _ino(fs, b"l")),
    "linked-orphan": lambda fs: _sql(  # held by a live process (our parent), but still linked
        fs,
        "INSERT INTO orphan (ino, pid, start_time) VALUES (?, ?, ?)",
        _ino(fs, b"f"),
        os.getppid(),
        process_start_time(os.getppid()),
    ),
}


def test_clean_image_has_no_problems(image: Path) -> None:
    with _populated(image) as fs:
        assert fsck.check(fs) == []
        assert fsck.repair(fs) == []
    assert fsck.check(image) == []


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_fsck_finds_and_repairs(image: Path, kind: str) -> None:
    fs = _populated(image)
    CORRUPTIONS[kind](fs)
    found = fsck.check(fs)
    assert kind in {p.kind for p in found}, found
    fixed = fsck.repair(fs)
    assert {p.kind for p in fixed} == {p.kind for p in found}
    assert fsck.check(fs) == []
    fs.close()
    assert fsck.check(image) == []


def test_repair_reattaches_lost_inode_in_lost_found_with_its_data(image: Path) -> None:
    with _populated(image) as fs:
        g = _ino(fs, b"d", b"g")
        _sql(fs, "DELETE FROM dentry WHERE name = CAST('g' AS BLOB)")
        fsck.repair(fs)
        lf = _ino(fs, b"lost+found")
        assert stat.S_ISDIR(fs.getattr(lf).mode)
        assert fs.lookup(lf, b"#%d" % g) == g
        assert fs.read(g, 0, 10) == b"y"
        assert fs.getattr(g).nlink == 1


def test_check_by_path_sees_dead_orphan_and_open_reaps_it(image: Path) -> None:
    with _populated(image) as fs:
        f = _ino(fs, b"f")
        _orphan_of_dead_process(fs, f)
    assert [p.kind for p in fsck.check(image)] == ["dead-orphan"]
    with VolFs.open(image) as fs:  # open reaps orphans whose holder is gone
        assert fs._db.execute("SELECT count(*) FROM inode WHERE ino = ?", (f,)).fetchone() == (0,)
    assert fsck.check(image) == []


def test_repair_of_a_detached_cycle_keeps_the_subtree_shape(image: Path) -> None:
    with _populated(image) as fs:
        d, sub, g = _ino(fs, b"d"), _ino(fs, b"d", b"sub"), _ino(fs, b"d", b"g")
        _sql(fs, "UPDATE dentry SET parent = ? WHERE name = CAST('d' AS BLOB)", sub)  # d/sub/d/sub/...
        kinds = {p.kind for p in fsck.check(fs)}
        assert "disconnected" in kinds
        fsck.repair(fs)
        assert fsck.check(fs) == []
        lf = _ino(fs, b"lost+found")
        moved = fs.lookup(lf, b"#%d" % d) or fs.lookup(lf, b"#%d" % sub)
        assert moved in (d, sub)
        assert fs.lookup(d, b"g") == g  # the file stayed in its directory
        assert {fs.lookup(d, b"sub"), fs.lookup(sub, b"d")} - {None} != set()


def test_problem_str_is_readable() -> None:
    assert str(fsck.Problem("nlink", 3, "nlink is 5, expected 1")) == "nlink: inode 3: nlink is 5, expected 1"
