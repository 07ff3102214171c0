"""Filesystem-level tests of VolFs: every method of the protocol and its edge cases."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from lxfs.linux import VOLFS_MAGIC
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import RENAME_EXCHANGE, RENAME_WHITEOUT, XATTR_CREATE, XATTR_REPLACE, SetAttr
from lxfs.volfs import fsck
from lxfs.volfs.layout import CHUNK_SIZE, SCHEMA_VERSION, ImageError
from lxfs.volfs.volfs import VolFs

from .conftest import NOW, REG, names, new_file

# -- images --------------------------------------------------------------------------------------------


def test_new_image_has_root_directory_0755_nlink_2(fs: VolFs) -> None:
    a = fs.getattr(fs.root_ino)
    assert stat.S_ISDIR(a.mode) and stat.S_IMODE(a.mode) == 0o755
    assert a.nlink == 2 and a.ino == 1
    assert names(fs, 1) == [b".", b".."]
    assert fs.lookup(1, b"..") == 1


def test_create_refuses_existing_path(image: Path) -> None:
    image.write_bytes(b"x")
    with pytest.raises(ImageError, match="already exists"):
        VolFs.create(image)
    assert image.read_bytes() == b"x"


def test_image_survives_close_and_reopen(image: Path) -> None:
    with VolFs.create(image) as fs:
        ino = new_file(fs, b"f", b"data")
        d = fs.mkdir(1, b"d", 0o700, 5, 6, NOW)
    with VolFs.open(image) as fs:
        assert fs.lookup(1, b"f") == ino
        assert fs.read(ino, 0, 100) == b"data"
        assert fs.getattr(d).uid == 5
        assert fsck.check(fs) == []


def test_open_missing_image_is_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such image"):
        VolFs.open(tmp_path / "nope.lxfs")


def test_open_non_sqlite_file_is_image_error(tmp_path: Path) -> None:
    p = tmp_path / "junk"
    p.write_bytes(b"hello world" * 100)
    with pytest.raises(ImageError, match="not an SQLite database"):
        VolFs.open(p)


def test_open_foreign_sqlite_database_is_image_error(tmp_path: Path) -> None:
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ImageError, match="not an lxfs image"):
        VolFs.open(p)


def _foreign_database(path: Path, journal_mode: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA journal_mode = {journal_mode}")
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (randomblob(20000))")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


@pytest.mark.parametrize("journal_mode", ["DELETE", "WAL"])
@pytest.mark.parametrize("readonly", [False, True])
def test_open_foreign_sqlite_database_leaves_it_untouched(tmp_path: Path, journal_mode: str, readonly: bool) -> None:
    """Refusing a database that is not an image must not write to it: no switch to WAL mode (header
    bytes 18-19), no -wal or -holds file left beside it."""
    p = tmp_path / "other.db"
    _foreign_database(p, journal_mode)
    before = p.read_bytes()
    files = sorted(os.listdir(tmp_path))
    with pytest.raises(ImageError, match="not an lxfs image"):
        VolFs.open(p, readonly=readonly)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == files
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == journal_mode.lower()
    con.close()


def test_imagefs_open_foreign_sqlite_database_leaves_it_untouched(tmp_path: Path) -> None:
    from lxfs.images.imagefs import ImageFs

    p = tmp_path / "other.db"
    _foreign_database(p, "DELETE")
    before = p.read_bytes()
    with pytest.raises(ImageError, match="not an lxfs image"):
        ImageFs.open(p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["other.db"]


def test_open_new_image_whose_application_id_is_still_in_the_wal(image: Path) -> None:
    """A new image's header page sits in the WAL until a checkpoint: open must ask SQLite, not the file."""
    with VolFs.create(image) as fs:
        new_file(fs, b"f", b"data")
        assert int.from_bytes(image.read_bytes()[68:72], "big") == 0
        with VolFs.open(image) as other:
            assert other.lookup(1, b"f") is not None
        with VolFs.open(image, readonly=True) as other:
            assert other.lookup(1, b"f") is not None


def test_open_newer_schema_version_is_refused(image: Path) -> None:
    VolFs.create(image).close()
    con = sqlite3.connect(image)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(ImageError, match="schema version"):
        VolFs.open(image)


def test_open_corrupt_image_is_image_error(image: Path) -> None:
    with VolFs.create(image) as fs:
        new_file(fs, b"f", b"x" * 100000)
        fs._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(image.read_bytes())
    raw[100:] = b"\xff" * (len(raw) - 100)  # everything after the header
    image.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match="damaged"):
        VolFs.open(image)


def test_open_locked_image_is_image_error(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lxfs.volfs import store

    VolFs.create(image).close()
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(image, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ImageError, match="locked"):
            VolFs.open(image)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_readonly_image_refuses_changes_with_EROFS(image: Path) -> None:
    with VolFs.create(image) as fs:
        ino = new_file(fs, b"f", b"abc")
    with VolFs.open(image, readonly=True) as fs:
        assert fs.readonly
        assert fs.read(ino, 0, 3) == b"abc"
        for call in (
            lambda: fs.create(1, b"g", REG, 0, 0, 0, NOW),
            lambda: fs.write(ino, 0, b"x"),
            lambda: fs.unlink(1, b"f"),
            lambda: fs.setattr(ino, SetAttr(mode=0o600)),
            lambda: fs.setxattr(ino, b"user.a", b"1", 0),
        ):
            with pytest.raises(FsError) as e:
                call()
            assert e.value.errno == errno.EROFS
        assert fs.statfs().f_flags & 1


# -- inodes and names ----------------------------------------------------------------------------------


def test_create_sets_attributes_and_one_link(fs: VolFs) -> None:
    ino = fs.create(1, b"f", REG, 1000, 100, 0, NOW)
    a = fs.getattr(ino)
    assert (a.mode, a.nlink, a.uid, a.gid, a.size, a.blocks) == (REG, 1, 1000, 100, 0, 0)
    assert a.atime_ns == a.mtime_ns == a.ctime_ns == NOW
    assert fs.lookup(1, b"f") == ino
    assert fs.getattr(1).nlink == 2


@pytest.mark.parametrize("kind", [stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK])
def test_create_special_files_keeps_type_and_rdev(fs: VolFs, kind: int) -> None:
    rdev = os.makedev(4, 64) if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0
    ino = fs.create(1, b"n", kind | 0o600, 0, 0, rdev, NOW)
    a = fs.getattr(ino)
    assert stat.S_IFMT(a.mode) == kind and a.rdev == rdev
    assert [e.dtype for e in fs.readdir(1, 2)] == [kind >> 12]


def test_create_existing_name_is_EEXIST_and_changes_nothing(fs: VolFs) -> None:
    new_file(fs, b"f")
    with pytest.raises(FsError) as e, fs.transaction():
        fs.create(1, b"f", REG, 0, 0, 0, NOW)
    assert e.value.errno == errno.EEXIST
    assert names(fs, 1) == [b".", b"..", b"f"]


def test_names_are_arbitrary_bytes_up_to_255(fs: VolFs) -> None:
    weird = [bytes(range(1, 47)) + bytes(range(48, 256)), b"\xff\xfe", b" ", b"a" * 255, b"\n"]
    for n in weird:
        new_file(fs, n)
    assert sorted(names(fs, 1)[2:]) == sorted(weird)
    for n in weird:
        assert fs.lookup(1, n) is not None


def test_mkdir_links_parent_and_dotdot(fs: VolFs) -> None:
    d = fs.mkdir(1, b"d", 0o40750, 1, 2, NOW)
    a = fs.getattr(d)
    assert stat.S_ISDIR(a.mode) and stat.S_IMODE(a.mode) == 0o750 and a.nlink == 2
    assert fs.getattr(1).nlink == 3
    assert fs.lookup(d, b"..") == 1
    e = fs.mkdir(d, b"e", 0o755, 0, 0, NOW)
    assert fs.getattr(d).nlink == 3
    assert fs.lookup(e, b"..") == d
    assert [(x.name, x.ino) for x in fs.readdir(e, 0)] == [(b".", e), (b"..", d)]


def test_symlink_stores_target_and_size(fs: VolFs) -> None:
    target = b"../some/where\xff"
    ino = fs.symlink(1, b"l", target, 3, 4, NOW)
    a = fs.getattr(ino)
    assert stat.S_ISLNK(a.mode) and stat.S_IMODE(a.mode) == 0o777 and a.size == len(target)
    assert fs.readlink(ino) == target


def test_readlink_of_non_symlink_is_EINVAL(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    with pytest.raises(FsError) as e:
        fs.readlink(ino)
    assert e.value.errno == errno.EINVAL


def test_link_adds_name_and_nlink(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"x")
    d = fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
    fs.link(ino, d, b"g")
    assert fs.getattr(ino).nlink == 2
    assert fs.lookup(d, b"g") == ino
    assert fs.find_name(d, ino) == b"g"
    assert fs.find_name(1, ino) == b"f"
    assert fs.find_name(d, 999) is None


def test_unlink_drops_link_and_frees_at_zero(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"data" * 50000)
    fs.link(ino, 1, b"g")
    fs.setxattr(ino, b"user.x", b"1", 0)
    fs.unlink(1, b"f")
    assert fs.getattr(ino).nlink == 1 and fs.lookup(1, b"f") is None
    fs.unlink(1, b"g")
    with pytest.raises(FsError) as e:
        fs.getattr(ino)
    assert e.value.errno == errno.ENOENT
    for table in ("inode", "chunk", "xattr", "orphan"):
        assert fs._db.execute(f"SELECT count(*) FROM {table} WHERE ino = ?", (ino,)).fetchone() == (0,)


def test_unlink_missing_name_is_ENOENT(fs: VolFs) -> None:
    with pytest.raises(FsError) as e:
        fs.unlink(1, b"nope")
    assert e.value.errno == errno.ENOENT


def test_rmdir_unlinks_parent(fs: VolFs) -> None:
    d = fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
    fs.rmdir(1, b"d")
    assert fs.getattr(1).nlink == 2 and fs.lookup(1, b"d") is None
    with pytest.raises(FsError):
        fs.getattr(d)


# -- rename --------------------------------------------------------------------------------------------


def test_rename_file_within_directory(fs: VolFs) -> None:
    ino = new_file(fs, b"a", b"1")
    fs.rename(1, b"a", 1, b"b", 0)
    assert fs.lookup(1, b"a") is None and fs.lookup(1, b"b") == ino
    assert names(fs, 1) == [b".", b"..", b"b"]


def test_rename_replaces_existing_file_and_frees_it(fs: VolFs) -> None:
    a = new_file(fs, b"a", b"1")
    b = new_file(fs, b"b", b"2")
    fs.rename(1, b"a", 1, b"b", 0)
    assert fs.lookup(1, b"b") == a
    assert fs.read(a, 0, 10) == b"1"
    with pytest.raises(FsError):
        fs.getattr(b)


def test_rename_directory_across_parents_moves_dotdot_link(fs: VolFs) -> None:
    p = fs.mkdir(1, b"p", 0o755, 0, 0, NOW)
    q = fs.mkdir(1, b"q", 0o755, 0, 0, NOW)
    d = fs.mkdir(p, b"d", 0o755, 0, 0, NOW)
    assert fs.lookup(d, b"..") == p
    fs.rename(p, b"d", q, b"e", 0)
    assert fs.lookup(d, b"..") == q
    assert fs.getattr(p).nlink == 2 and fs.getattr(q).nlink == 3 and fs.getattr(1).nlink == 4


def test_rename_directory_over_empty_directory(fs: VolFs) -> None:
    p = fs.mkdir(1, b"p", 0o755, 0, 0, NOW)
    d = fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
    t = fs.mkdir(p, b"t", 0o755, 0, 0, NOW)
    fs.rename(1, b"d", p, b"t", 0)
    assert fs.lookup(p, b"t") == d
    assert fs.getattr(p).nlink == 3 and fs.getattr(1).nlink == 3
    with pytest.raises(FsError):
        fs.getattr(t)


def test_rename_hard_links_of_one_inode_does_nothing(fs: VolFs) -> None:
    ino = new_file(fs, b"a")
    fs.link(ino, 1, b"b")
    fs.rename(1, b"a", 1, b"b", 0)
    assert fs.lookup(1, b"a") == ino and fs.lookup(1, b"b") == ino and fs.getattr(ino).nlink == 2


def test_rename_exchange_swaps_file_and_directory_across_parents(fs: VolFs) -> None:
    p = fs.mkdir(1, b"p", 0o755, 0, 0, NOW)
    f = new_file(fs, b"f", b"x")
    d = fs.mkdir(p, b"d", 0o755, 0, 0, NOW)
    fs.rename(1, b"f", p, b"d", RENAME_EXCHANGE)
    assert fs.lookup(1, b"f") == d and fs.lookup(p, b"d") == f
    assert fs.lookup(d, b"..") == 1
    assert fs.getattr(1).nlink == 4 and fs.getattr(p).nlink == 2


def test_rename_whiteout_is_EINVAL(fs: VolFs) -> None:
    new_file(fs, b"a")
    with pytest.raises(FsError) as e:
        fs.rename(1, b"a", 1, b"b", RENAME_WHITEOUT)
    assert e.value.errno == errno.EINVAL


# -- readdir -------------------------------------------------------------------------------------------


def test_readdir_resumes_from_any_cookie(fs: VolFs) -> None:
    for i in range(600):  # more than one internal batch
        new_file(fs, b"f%03d" % i)
    entries = list(fs.readdir(1, 0))
    assert len(entries) == 602
    for k in (1, 2, 3, 300, 601):
        rest = list(fs.readdir(1, entries[k - 1].offset))
        assert [e.name for e in rest] == [e.name for e in entries[k:]]
    assert list(fs.readdir(1, entries[-1].offset)) == []


def test_readdir_cookies_survive_concurrent_unlink_and_create(fs: VolFs) -> None:
    for i in range(10):
        new_file(fs, b"f%d" % i)
    full = [e.name for e in fs.readdir(1, 0)]
    first = list(fs.readdir(1, 0))[:6]
    unseen = full[6:]
    fs.unlink(1, first[-1].name)  # the entry the cookie points at
    fs.unlink(1, unseen[0])  # one not read yet
    new_file(fs, b"new")
    rest = [e.name for e in fs.readdir(1, first[-1].offset)]
    assert [n for n in rest if n != b"new"] == unseen[1:]  # nothing lost, nothing twice
    seen = [e.name for e in first] + rest
    assert len(seen) == len(set(seen))


def test_readdir_order_and_cookies_are_stable_across_reopen(image: Path) -> None:
    with VolFs.create(image) as fs:
        for i in range(50):
            new_file(fs, b"x%d" % i)
        before = [(e.name, e.offset) for e in fs.readdir(1, 0)]
    with VolFs.open(image) as fs:
        assert [(e.name, e.offset) for e in fs.readdir(1, 0)] == before
    assert all(2 < off < 2**63 for _, off in before[2:])


# -- data ----------------------------------------------------------------------------------------------


def test_write_read_roundtrip_across_chunks(fs: VolFs) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 1234)
    ino = new_file(fs, b"f")
    fs.write(ino, 100, data)
    assert fs.getattr(ino).size == 100 + len(data)
    assert fs.read(ino, 0, 10**9) == bytes(100) + data
    for off, n in [(0, 1), (CHUNK_SIZE - 1, 2), (CHUNK_SIZE, CHUNK_SIZE), (5, 2 * CHUNK_SIZE + 7)]:
        assert fs.read(ino, off, n) == (bytes(100) + data)[off : off + n]


def test_read_is_short_at_eof_and_empty_past_it(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"hello")
    assert fs.read(ino, 3, 100) == b"lo"
    assert fs.read(ino, 5, 100) == b""
    assert fs.read(ino, 1000, 100) == b""


def test_sparse_write_far_away_stores_one_chunk(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    off = 2 * 1024**3 + 1
    fs.write(ino, off, b"x")
    a = fs.getattr(ino)
    assert a.size == off + 1 and a.blocks == 8
    assert fs._db.execute("SELECT count(*) FROM chunk WHERE ino = ?", (ino,)).fetchone() == (1,)
    assert fs.read(ino, off - 10, 20) == bytes(10) + b"x"
    assert fs.read(ino, 12345, 4096) == bytes(4096)


def test_overwrite_inside_chunk_patches_in_place(fs: VolFs) -> None:
    data = bytearray(os.urandom(CHUNK_SIZE + 500))
    ino = new_file(fs, b"f", bytes(data))
    for off, piece in [(10, b"abc"), (CHUNK_SIZE - 2, b"WXYZ"), (CHUNK_SIZE + 499, b"!"), (0, b"")]:
        fs.write(ino, off, piece)
        data[off : off + len(piece)] = piece
    assert fs.read(ino, 0, len(data) + 10) == bytes(data)
    assert fs.getattr(ino).size == len(data)


def test_write_past_short_last_chunk_zero_fills_gap(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"abc")
    fs.write(ino, 10, b"xyz")
    assert fs.read(ino, 0, 100) == b"abc" + bytes(7) + b"xyz"
    fs.write(ino, 1, b"Q")
    assert fs.read(ino, 0, 100) == b"aQc" + bytes(7) + b"xyz"


def test_truncate_shrinks_drops_and_trims_chunks(fs: VolFs) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    ino = new_file(fs, b"f", data)
    fs.setattr(ino, SetAttr(size=CHUNK_SIZE + 10))
    a = fs.getattr(ino)
    assert a.size == CHUNK_SIZE + 10
    assert fs.read(ino, 0, 10**7) == data[: CHUNK_SIZE + 10]
    rows = fs._db.execute("SELECT idx, length(data) FROM chunk WHERE ino = ? ORDER BY idx", (ino,)).fetchall()
    assert rows == [(0, CHUNK_SIZE), (1, 10)]
    assert a.blocks == (CHUNK_SIZE + 4096) // 512


def test_truncate_then_extend_reads_zeros(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"abcdef")
    fs.setattr(ino, SetAttr(size=2))
    fs.setattr(ino, SetAttr(size=6))
    assert fs.read(ino, 0, 10) == b"ab" + bytes(4)
    fs.setattr(ino, SetAttr(size=0))
    assert fs.getattr(ino).blocks == 0
    assert fs._db.execute("SELECT count(*) FROM chunk WHERE ino = ?", (ino,)).fetchone() == (0,)


def test_setattr_changes_only_given_fields_and_keeps_type(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    fs.setattr(ino, SetAttr(mode=stat.S_IFDIR | 0o4711, uid=7))
    a = fs.getattr(ino)
    assert a.mode == stat.S_IFREG | 0o4711 and a.uid == 7 and a.gid == 0
    fs.setattr(ino, SetAttr(atime_ns=1, mtime_ns=2, ctime_ns=3, gid=9))
    a = fs.getattr(ino)
    assert (a.atime_ns, a.mtime_ns, a.ctime_ns, a.gid, a.uid) == (1, 2, 3, 9, 7)


def test_fsync_and_sync_succeed(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"x")
    fs.fsync(ino, False)
    fs.fsync(ino, True)
    fs.sync()


# -- xattrs --------------------------------------------------------------------------------------------


def test_xattr_create_replace_list_remove(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    with pytest.raises(FsError) as e:
        fs.getxattr(ino, b"user.a")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(FsError) as e:
        fs.setxattr(ino, b"user.a", b"1", XATTR_REPLACE)
    assert e.value.errno == errno.ENODATA
    fs.setxattr(ino, b"user.a", b"1", XATTR_CREATE)
    fs.setxattr(ino, b"user.b", b"", 0)
    with pytest.raises(FsError) as e:
        fs.setxattr(ino, b"user.a", b"2", XATTR_CREATE)
    assert e.value.errno == errno.EEXIST
    fs.setxattr(ino, b"user.a", b"\x00\xff", XATTR_REPLACE)
    assert fs.getxattr(ino, b"user.a") == b"\x00\xff"
    assert fs.getxattr(ino, b"user.b") == b""
    assert fs.listxattr(ino) == [b"user.a", b"user.b"]
    fs.removexattr(ino, b"user.a")
    with pytest.raises(FsError) as e:
        fs.removexattr(ino, b"user.a")
    assert e.value.errno == errno.ENODATA
    assert fs.listxattr(ino) == [b"user.b"]


# -- statfs, transactions ------------------------------------------------------------------------------


def test_statfs_reports_volfs_magic_and_counts(fs: VolFs) -> None:
    new_file(fs, b"f", b"x" * 100000)
    s = fs.statfs()
    assert s.f_type == VOLFS_MAGIC and s.f_namelen == 255 and s.f_bsize == 4096
    assert s.f_blocks >= s.f_bfree >= s.f_bavail > 0
    assert s.f_files >= s.f_ffree + 2
    assert fs.magic == VOLFS_MAGIC and fs.fs_type == "volfs"


def test_transaction_rolls_back_every_change_on_exception(fs: VolFs) -> None:
    keep = new_file(fs, b"keep", b"old")
    with pytest.raises(RuntimeError), fs.transaction():
        new_file(fs, b"gone", b"data")
        fs.write(keep, 0, b"new")
        fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
        raise RuntimeError("boom")
    assert names(fs, 1) == [b".", b"..", b"keep"]
    assert fs.read(keep, 0, 10) == b"old"
    assert fs.getattr(1).nlink == 2


def test_nested_transactions_join_the_outer_one(fs: VolFs) -> None:
    with fs.transaction():
        with fs.transaction():
            new_file(fs, b"a")
        assert fs._db.in_transaction
        new_file(fs, b"b")
    assert not fs._db.in_transaction
    assert names(fs, 1) == [b".", b"..", b"a", b"b"]


# -- orphans (one process) -----------------------------------------------------------------------------


def test_unlinked_open_file_lives_until_last_release(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"still here")
    fs.open_inode(ino)
    fs.open_inode(ino)
    fs.unlink(1, b"f")
    assert fs.getattr(ino).nlink == 0
    assert fs.read(ino, 0, 100) == b"still here"
    fs.write(ino, 0, b"STILL")
    assert fsck.check(fs) == []
    fs.release_inode(ino)
    assert fs.read(ino, 0, 100) == b"STILL here"
    fs.release_inode(ino)
    with pytest.raises(FsError):
        fs.getattr(ino)
    assert fs._db.execute("SELECT count(*) FROM orphan").fetchone() == (0,)


def test_removed_open_directory_is_orphan_until_release(fs: VolFs) -> None:
    d = fs.mkdir(1, b"d", 0o755, 0, 0, NOW)
    fs.open_inode(d)
    fs.rmdir(1, b"d")
    assert fs.getattr(d).nlink == 0
    assert [e.name for e in fs.readdir(d, 2)] == []
    fs.release_inode(d)
    with pytest.raises(FsError):
        fs.getattr(d)


def test_rename_over_open_file_keeps_it_as_orphan(fs: VolFs) -> None:
    new_file(fs, b"a", b"A")
    b = new_file(fs, b"b", b"B")
    fs.open_inode(b)
    fs.rename(1, b"a", 1, b"b", 0)
    assert fs.read(b, 0, 1) == b"B"
    fs.release_inode(b)
    with pytest.raises(FsError):
        fs.getattr(b)


def test_release_of_linked_file_keeps_it(fs: VolFs) -> None:
    ino = new_file(fs, b"f", b"x")
    fs.open_inode(ino)
    fs.release_inode(ino)
    assert fs.read(ino, 0, 1) == b"x"


def test_linking_an_orphan_makes_it_a_named_file_again(fs: VolFs) -> None:
    # O_TMPFILE + linkat(AT_EMPTY_PATH), as the VFS stores it: create, open, unlink, link.
    ino = new_file(fs, b"tmp", b"x")
    fs.open_inode(ino)
    fs.unlink(1, b"tmp")
    fs.link(ino, 1, b"named")
    assert fs.getattr(ino).nlink == 1
    assert fs._db.execute("SELECT count(*) FROM orphan").fetchone() == (0,)
    fs.release_inode(ino)
    assert fs.read(ino, 0, 1) == b"x"


def test_seek_data_and_hole_follow_stored_chunks(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    fs.write(ino, 0, b"a")
    fs.write(ino, 3 * CHUNK_SIZE + 7, b"b" * CHUNK_SIZE)  # chunks 3 and 4
    assert fs.seek_data(ino, 0, os.SEEK_DATA) == 0
    assert fs.seek_data(ino, 5, os.SEEK_HOLE) == CHUNK_SIZE
    assert fs.seek_data(ino, CHUNK_SIZE + 1, os.SEEK_DATA) == 3 * CHUNK_SIZE
    assert fs.seek_data(ino, 3 * CHUNK_SIZE + 9, os.SEEK_DATA) == 3 * CHUNK_SIZE + 9
    assert fs.seek_data(ino, 3 * CHUNK_SIZE, os.SEEK_HOLE) == 5 * CHUNK_SIZE
    with pytest.raises(FsError) as e:
        fs.seek_data(ino, 5 * CHUNK_SIZE, os.SEEK_DATA)
    assert e.value.errno == errno.ENXIO


@pytest.mark.parametrize("name", [b"", b".", b"..", b"a/b", b"a\0b"])
def test_invalid_names_are_refused(fs: VolFs, name: bytes) -> None:
    with pytest.raises(FsError) as e:
        fs.create(1, name, REG, 0, 0, 0, NOW)
    assert e.value.errno == errno.EINVAL


def test_small_sequential_reads_see_writes_in_between(fs: VolFs) -> None:
    data = bytearray(os.urandom(CHUNK_SIZE + 100))
    ino = new_file(fs, b"f", bytes(data))
    got = b"".join(fs.read(ino, off, 4096) for off in range(0, 3 * 4096, 4096))
    assert got == data[: 3 * 4096]
    fs.write(ino, 5000, b"NEW")
    data[5000:5003] = b"NEW"
    assert fs.read(ino, 4096, 4096) == data[4096:8192]
    fs.setattr(ino, SetAttr(size=4100))
    assert fs.read(ino, 4096, 4096) == data[4096:4100]
    fs.setattr(ino, SetAttr(size=9000))
    assert fs.read(ino, 8192, 4096) == bytes(808)
    assert fs.read(ino, 4000, 200) == data[4000:4100] + bytes(100)


def test_small_reads_of_holes_and_random_offsets(fs: VolFs) -> None:
    ino = new_file(fs, b"f")
    fs.write(ino, 3 * CHUNK_SIZE, b"end")
    assert fs.read(ino, 10, 100) == bytes(100)
    assert fs.read(ino, 110, 100) == bytes(100)  # sequential, from the cached hole
    assert fs.read(ino, 3 * CHUNK_SIZE + 1, 10) == b"nd"
    assert fs.read(ino, 2 * CHUNK_SIZE + 5, 10) == bytes(10)


# -- deferred times, cache revalidation after our own commits, WAL recycling ---------------------------


def test_time_only_setattr_reaches_the_image_at_commit(image: Path) -> None:
    """Time-only setattrs are written just before COMMIT: another connection sees them after the call,
    a later full setattr in the same transaction keeps them, a rollback drops them."""
    with VolFs.create(image) as fs, VolFs.open(image) as other:
        ino = new_file(fs, b"f")
        fs.setattr(ino, SetAttr(mtime_ns=NOW + 1, ctime_ns=NOW + 2))
        a = other.getattr(ino)
        assert (a.mtime_ns, a.ctime_ns) == (NOW + 1, NOW + 2)
        with fs.transaction():
            fs.setattr(ino, SetAttr(atime_ns=NOW + 3))
            fs._attrs.clear()  # a cache dropped mid-transaction still shows the pending times
            assert fs.getattr(ino).atime_ns == NOW + 3
            fs.setattr(ino, SetAttr(mode=0o600))
            fs.setattr(1, SetAttr(mtime_ns=NOW + 4))
        a, root = other.getattr(ino), other.getattr(1)
        assert (a.atime_ns, a.mtime_ns, stat.S_IMODE(a.mode)) == (NOW + 3, NOW + 1, 0o600)
        assert root.mtime_ns == NOW + 4
        with pytest.raises(FsError), fs.transaction():
            fs.setattr(ino, SetAttr(mtime_ns=NOW + 9))
            raise FsError(errno.EIO)
        assert fs.getattr(ino).mtime_ns == NOW + 1
        assert other.getattr(ino).mtime_ns == NOW + 1
        with fs.transaction():  # the times of an inode freed in the same transaction are never written
            gone = new_file(fs, b"g")
            fs.setattr(gone, SetAttr(ctime_ns=NOW + 5))
            fs.unlink(1, b"g")
        assert other.lookup(1, b"g") is None
        with pytest.raises(FsError):
            other.getattr(gone)


def test_caches_see_a_commit_that_follows_our_own(image: Path) -> None:
    """After its own commit a VolFs skips revalidation only while nobody else committed."""
    with VolFs.create(image) as a, VolFs.open(image) as b:
        assert a.lookup(1, b"x") is None  # a negative entry cached
        new_file(a, b"y")
        ino = new_file(b, b"x")
        assert a.lookup(1, b"x") == ino
        b.setattr(ino, SetAttr(mtime_ns=NOW + 7))
        new_file(a, b"z")
        b.unlink(1, b"x")
        assert a.lookup(1, b"x") is None
        for i in range(20):  # alternating commits
            new_file(a, b"a%d" % i)
            new_file(b, b"b%d" % i)
            assert a.lookup(1, b"b%d" % i) is not None and b.lookup(1, b"a%d" % i) is not None


def test_busy_wal_is_recycled_not_grown(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a checkpointer has copied most of a long WAL, the next commit copies the rest itself, so the
    commit after it starts the WAL over (SQLite restarts a WAL only when all of it is in the database)."""
    from lxfs.volfs import store

    monkeypatch.setattr(store, "CHECKPOINT_AFTER", 1 << 30)  # no background checkpoints: we play it
    monkeypatch.setattr(store, "RECYCLE_AT", 1 << 20)
    with VolFs.create(image) as fs:
        assert fs._wal is not None
        i = 0
        while fs._wal.frames()[0] * 8216 < 2 << 20:
            new_file(fs, b"f%d" % i)
            i += 1
        checkpointer = sqlite3.connect(image, isolation_level=None)
        checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        checkpointer.close()
        max_frame, backfilled = fs._wal.frames()
        assert backfilled == max_frame > 200
        new_file(fs, b"tail")  # pending is tiny: this commit copies it
        new_file(fs, b"restart")
        assert fs._wal.frames()[0] < 10
        assert sorted(names(fs, 1))[-3:] == [b"f99", b"restart", b"tail"]


def test_new_directory_answers_missing_names_from_the_cache_until_someone_else_writes(image: Path) -> None:
    with VolFs.create(image) as a, VolFs.open(image) as b:
        d = a.mkdir(1, b"d", 0o755, 0, 0, NOW)
        assert d in a._complete and 1 in a._complete
        trace: list[str] = []
        a._db.set_trace_callback(trace.append)
        assert a.lookup(d, b"x") is None and a.lookup(1, b"x") is None
        assert a.lookup(d, b"..") == 1
        assert not [t for t in trace if t.startswith("SELECT")]
        a._db.set_trace_callback(None)
        ino = new_file(b, b"x", parent=d)  # another connection's commit: a's completeness is gone
        assert a.lookup(d, b"x") == ino
        with pytest.raises(FsError), a.transaction():
            e = a.mkdir(d, b"e", 0o755, 0, 0, NOW)
            raise FsError(errno.EIO)
        assert a.lookup(d, b"e") is None and e not in a._complete
        a.unlink(d, b"x")
        a.rmdir(1, b"d")
        assert d not in a._complete
        assert b.lookup(1, b"d") is None


# -- times beyond the image's range ----------------------------------------------------------------------

MAX_S = (2**63 - 1) // 10**9  # 2262-04-11T23:47:16Z: the last whole second of signed 64-bit ns


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (-1, -1),  # before the epoch, to the ns
        (-1_000_000_001, -1_000_000_001),
        ((MAX_S - 1) * 10**9 + 999_999_999, (MAX_S - 1) * 10**9 + 999_999_999),
        (MAX_S * 10**9 + 1, MAX_S * 10**9),  # timestamp_truncate: the bound, without its nanoseconds
        (13_569_465_600 * 10**9, MAX_S * 10**9),  # 2400-01-01
        (-MAX_S * 10**9 - 1, -MAX_S * 10**9),
        (-15_000_000_000 * 10**9, -MAX_S * 10**9),
    ],
)
def test_times_are_clamped_to_the_range_an_image_holds(fs: VolFs, given: int, stored: int) -> None:
    ino = new_file(fs, b"f")
    fs.setattr(ino, SetAttr(atime_ns=given, mtime_ns=given))  # times only: the fast path
    fs.setattr(ino, SetAttr(mode=0o600, ctime_ns=given))  # with another change: the full row
    a = fs.getattr(ino)
    assert (a.atime_ns, a.mtime_ns, a.ctime_ns) == (stored, stored, stored)
    row = sqlite3.connect(fs.path).execute("SELECT atime, mtime, ctime FROM inode WHERE ino = ?", (ino,)).fetchone()
    assert row == (stored, stored, stored)


def test_a_failed_commit_leaves_no_transaction_open(fs: VolFs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever fails while a call commits, the transaction is rolled back: nothing of it is stored, the
    next call works, and the image's write lock is free for other processes."""
    ino = new_file(fs, b"f")
    before = fs.getattr(ino).mtime_ns

    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fs, "_flush_times", broken)
    with pytest.raises(RuntimeError):
        fs.setattr(ino, SetAttr(mtime_ns=before + 5))
    monkeypatch.undo()
    other = sqlite3.connect(fs.path, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free
    other.execute("ROLLBACK")
    other.close()
    assert fs.getattr(ino).mtime_ns == before
    fs.setattr(ino, SetAttr(mtime_ns=before + 7))
    assert fs.getattr(ino).mtime_ns == before + 7
