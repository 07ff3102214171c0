"""fsck for VolFs images: check every invariant of the schema and repair what can be repaired.

Invariants: the root is a directory; every dentry names an existing inode under an existing directory,
with a valid name, the name's hash and the inode's type; a directory has exactly one dentry (none for
the root), nlink = 2 + its subdirectories and '..' = the directory its dentry lies in; a
non-directory's nlink is its dentry count; every inode is reachable from the root or an orphan held by
a live process; the tree is connected and acyclic; chunks lie within the file size and the chunk size,
belong to regular files, and ``blocks`` matches them; symlinks have targets; nothing refers to a
missing inode. Runs outside any VolFs transaction (tools only, SQLAlchemy Core).
"""

from __future__ import annotations

import os
import stat
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Select, and_, delete, func, insert, select, update

from lxfs.volfs import schema
from lxfs.volfs.layout import CHUNK_SIZE, ROOT_INO, name_hash
from lxfs.volfs.store import sectors
from lxfs.volfs.volfs import VolFs, holder_alive

LOST_FOUND = b"lost+found"
S_IFMT = 0o170000
SECTORS_SUM = "sum((length(data) + 4095) / 4096) * 8"  # store.sectors() over chunks


@dataclass(slots=True, frozen=True)
class Problem:
    """One broken invariant. ``kind`` is a stable short name (tests and scripts match on it)."""

    kind: str
    ino: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: inode {self.ino}: {self.detail}"


@dataclass(slots=True)
class _Inode:
    mode: int
    nlink: int
    size: int
    blocks: int
    has_target: bool
    parent: int | None


def _bad_name(name: bytes) -> bool:
    return not name or name in (b".", b"..") or b"/" in name or b"\0" in name or len(name) > 255


def _scan(conn: Connection, chunk_size: int, alive: Callable[[int, int, int], bool]) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    inodes = {
        row.ino: _Inode(row.mode, row.nlink, row.size, row.blocks, row.target is not None, row.parent)
        for row in conn.execute(
            select(
                schema.inode.c.ino,
                schema.inode.c.mode,
                schema.inode.c.nlink,
                schema.inode.c.size,
                schema.inode.c.blocks,
                schema.inode.c.target,
                schema.inode.c.parent,
            )
        )
    }
    root = inodes.get(ROOT_INO)
    if root is None:
        add(Problem("root", ROOT_INO, "the root directory is missing"))
        inodes[ROOT_INO] = _Inode(stat.S_IFDIR | 0o755, 2, 0, 0, False, ROOT_INO)  # as repair recreates it
    elif not stat.S_ISDIR(root.mode):
        add(Problem("root-type", ROOT_INO, "the root is not a directory"))

    names: dict[int, list[tuple[int, bytes]]] = defaultdict(list)  # ino -> its (parent, name)s
    children: dict[int, list[int]] = defaultdict(list)  # directory -> child inos
    subdirs: dict[int, int] = defaultdict(int)
    d = schema.dentry
    for parent, hash_, name, ino, dtype in conn.execute(select(d.c.parent, d.c.hash, d.c.name, d.c.ino, d.c.type)):
        target = inodes.get(ino)
        dir_inode = inodes.get(parent)
        if target is None:
            add(Problem("dangling-dentry", ino, f"dentry {name!r} in directory {parent} names a missing inode"))
            continue
        if dir_inode is None or not stat.S_ISDIR(dir_inode.mode):
            add(Problem("bad-parent", ino, f"dentry {name!r} lies in {parent}, which is not a directory"))
            continue
        if _bad_name(bytes(name)):
            add(Problem("bad-name", ino, f"invalid name {bytes(name)!r} in directory {parent}"))
        if hash_ != name_hash(bytes(name)):
            add(Problem("dentry-hash", ino, f"dentry {bytes(name)!r} in {parent} has a wrong hash"))
        if dtype != stat.S_IFMT(target.mode) >> 12:
            add(Problem("dentry-type", ino, f"dentry {bytes(name)!r} in {parent} has type {dtype}"))
        names[ino].append((parent, bytes(name)))
        children[parent].append(ino)
        if stat.S_ISDIR(target.mode):
            subdirs[parent] += 1

    orphans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    dead: set[int] = set()
    for ino, pid, start_time in conn.execute(
        select(schema.orphan.c.ino, schema.orphan.c.pid, schema.orphan.c.start_time)
    ):
        if ino not in inodes:
            add(Problem("stray-orphan", ino, "orphan record of a missing inode"))
            continue
        if inodes[ino].nlink > 0 or names.get(ino):
            add(Problem("linked-orphan", ino, "orphan record of an inode that still has names"))
        elif not alive(ino, pid, start_time):
            add(Problem("dead-orphan", ino, f"orphan that no process holds open (recorded by pid {pid})"))
            dead.add(ino)
        else:
            orphans[ino].append((pid, start_time))

    # Reachability from the root; a directory reached twice or never is a cycle or a detached subtree.
    reached = {ROOT_INO}
    stack = [ROOT_INO]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child in reached:
                continue
            reached.add(child)
            if stat.S_ISDIR(inodes[child].mode):
                stack.append(child)

    for ino, node in inodes.items():
        links = names.get(ino, [])
        if stat.S_ISDIR(node.mode):
            if ino == ROOT_INO:
                if links:
                    add(Problem("dir-links", ino, "the root directory has a name"))
            elif len(links) > 1:
                add(Problem("dir-links", ino, f"directory has {len(links)} names"))
            want_parent = ROOT_INO if ino == ROOT_INO else (links[0][0] if len(links) == 1 else None)
            if want_parent is not None and node.parent != want_parent:
                add(Problem("dotdot", ino, f"'..' is {node.parent}, the directory lies in {want_parent}"))
            expected = 2 + subdirs.get(ino, 0) if (links or ino == ROOT_INO) else 0
        else:
            expected = len(links)
        if ino not in reached and ino not in orphans and ino not in dead:
            if not links:
                add(Problem("lost-inode", ino, "no name and not held open"))
            elif stat.S_ISDIR(node.mode):
                # A detached subtree or a cycle; the files inside come back with their directory.
                add(Problem("disconnected", ino, "directory not reachable from the root"))
        if node.nlink != expected and not (ino in orphans and node.nlink == 0):
            add(Problem("nlink", ino, f"nlink is {node.nlink}, expected {expected}"))
        if stat.S_ISLNK(node.mode) and not node.has_target:
            add(Problem("symlink-target", ino, "symlink without a target"))

    blocks: dict[int, int] = defaultdict(int)
    for ino, idx, length in conn.execute(
        select(schema.chunk.c.ino, schema.chunk.c.idx, func.length(schema.chunk.c.data))
    ):
        owner = inodes.get(ino)
        if owner is None:
            add(Problem("stray-chunk", ino, f"chunk {idx} of a missing inode"))
            continue
        if not stat.S_ISREG(owner.mode):
            add(Problem("chunk-not-file", ino, f"chunk {idx} of a non-regular file"))
            continue
        if length > chunk_size or idx < 0:
            add(Problem("chunk-size", ino, f"chunk {idx} holds {length} bytes (chunk size {chunk_size})"))
        elif idx * chunk_size + length > owner.size:
            add(Problem("chunk-beyond-size", ino, f"chunk {idx} ends past the file size {owner.size}"))
        blocks[ino] += sectors(length)
    for ino, node in inodes.items():
        if node.blocks != blocks.get(ino, 0):
            add(Problem("blocks", ino, f"blocks is {node.blocks}, chunks hold {blocks.get(ino, 0)}"))

    for ino, name in conn.execute(select(schema.xattr.c.ino, schema.xattr.c.name)):
        if ino not in inodes:
            add(Problem("stray-xattr", ino, f"xattr {bytes(name)!r} of a missing inode"))
    return problems


def _chunk_size(conn: Connection) -> int:
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "chunk_size")).scalar()
    return int(value) if value is not None else CHUNK_SIZE


def check(fs_or_path: VolFs | str | os.PathLike[str]) -> list[Problem]:
    """Every broken invariant of the image (empty when it is clean)."""
    if isinstance(fs_or_path, VolFs):
        return _check_fs(fs_or_path)
    with VolFs.open(fs_or_path, readonly=True) as fs:
        return _check_fs(fs)


def _check_fs(fs: VolFs) -> list[Problem]:
    with fs.engine.connect() as conn:
        fs._db.execute("BEGIN")  # one snapshot for the whole scan
        try:
            return _scan(conn, _chunk_size(conn), lambda ino, pid, start: _orphan_alive(fs, ino, pid, start))
        finally:
            fs._db.execute("ROLLBACK")


def _orphan_alive(fs: VolFs, ino: int, pid: int, start_time: int) -> bool:
    """Held open by some process: the holds file says so; without one, the recorded holder lives."""
    if fs._holds is not None or pid == os.getpid():
        return fs.held(ino)
    return holder_alive(pid, start_time)


def repair(fs_or_path: VolFs | str | os.PathLike[str]) -> list[Problem]:
    """Fix what can be fixed; returns the problems found before repairing. Check again for what is left
    (a root that is not a directory and invalid names are left as they are)."""
    if isinstance(fs_or_path, VolFs):
        return _repair_fs(fs_or_path)
    with VolFs.open(fs_or_path) as fs:
        return _repair_fs(fs)


def _repair_fs(fs: VolFs) -> list[Problem]:
    found = _check_fs(fs)
    if not found:
        return found
    for _ in range(64):  # a fix may expose another (a dropped dentry leaves a lost inode)
        problems = _check_fs(fs)
        if not problems:
            break
        fs._db.execute("BEGIN IMMEDIATE")
        with fs.engine.begin() as conn:  # its commit ends the transaction begun above
            _fix(fs, conn, problems)
        fs._attrs.clear()
        fs._dentries.clear()
        fs._complete.clear()
        fs._store.drop_cache()
    return found


def _fix(fs: VolFs, conn: Connection, problems: list[Problem]) -> None:
    d, i, c, x, o = schema.dentry, schema.inode, schema.chunk, schema.xattr, schema.orphan
    chunk_size = _chunk_size(conn)
    by_kind: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_kind[problem.kind].append(problem)

    if by_kind["root"]:
        _insert_dir(conn, stat.S_IFDIR | 0o755, ino=ROOT_INO)
    if by_kind["dangling-dentry"] or by_kind["bad-parent"]:
        conn.execute(delete(d).where(d.c.ino.not_in(select(i.c.ino))))
        conn.execute(delete(d).where(d.c.parent.not_in(_inodes_of_type(stat.S_IFDIR))))
    for p in by_kind["dir-links"]:
        if p.ino == ROOT_INO:
            conn.execute(delete(d).where(d.c.ino == ROOT_INO))
            continue
        keep = conn.execute(select(func.min(d.c.parent)).where(d.c.ino == p.ino)).scalar()
        conn.execute(delete(d).where(d.c.ino == p.ino, d.c.parent != keep))
        first = conn.execute(select(func.min(d.c.name)).where(d.c.ino == p.ino)).scalar()
        conn.execute(delete(d).where(d.c.ino == p.ino, d.c.name != first))
    for ino in {p.ino for p in by_kind["stray-orphan"] + by_kind["dead-orphan"] + by_kind["linked-orphan"]}:
        conn.execute(delete(o).where(o.c.ino == ino))
        if any(p.ino == ino for p in by_kind["dead-orphan"]):
            conn.execute(delete(i).where(i.c.ino == ino, i.c.nlink == 0))  # inode_freed frees the rest
    for p in by_kind["stray-chunk"] + by_kind["chunk-not-file"]:
        conn.execute(delete(c).where(c.c.ino == p.ino, c.c.ino.not_in(_inodes_of_type(stat.S_IFREG))))
    for p in by_kind["stray-xattr"]:
        conn.execute(delete(x).where(x.c.ino == p.ino))
    for p in by_kind["chunk-size"]:
        conn.execute(delete(c).where(c.c.ino == p.ino, c.c.idx < 0))
        conn.execute(
            update(c)
            .where(c.c.ino == p.ino, func.length(c.c.data) > chunk_size)
            .values(data=func.substr(c.c.data, 1, chunk_size))
        )
    for ino in {p.ino for p in by_kind["chunk-beyond-size"]}:
        size = conn.execute(select(i.c.size).where(i.c.ino == ino)).scalar_one()
        fs._store.truncate(ino, size)
    if by_kind["dentry-hash"] or by_kind["dentry-type"]:
        types = dict(conn.execute(select(i.c.ino, i.c.mode.op("&")(S_IFMT))).all())
        for parent, hash_, name, ino, dtype in conn.execute(
            select(d.c.parent, d.c.hash, d.c.name, d.c.ino, d.c.type)
        ).all():
            want = (name_hash(bytes(name)), types.get(ino, dtype << 12) >> 12)
            if (hash_, dtype) != want:
                conn.execute(
                    update(d)
                    .where(d.c.parent == parent, d.c.hash == hash_, d.c.name == name)
                    .values(hash=want[0], type=want[1])
                )
    for p in by_kind["symlink-target"]:
        conn.execute(update(i).where(i.c.ino == p.ino).values(target=b"", size=0))
    if by_kind["disconnected"] or by_kind["lost-inode"]:
        lost_found = _lost_found(fs, conn)
        for p in by_kind["disconnected"][:1]:
            # Detach one subtree (breaking its cycle, if any) and hang it under lost+found; the next
            # pass sees what is still unreachable, so a detached tree keeps its shape.
            conn.execute(delete(d).where(d.c.ino == p.ino))
            _link(conn, lost_found, b"#%d" % p.ino, p.ino)
        for p in by_kind["lost-inode"]:
            if p.ino != ROOT_INO:
                _link(conn, lost_found, b"#%d" % p.ino, p.ino)
    _fix_counts(conn)


def _inodes_of_type(kind: int) -> Select[tuple[int]]:
    i = schema.inode
    return select(i.c.ino).where(i.c.mode.op("&")(S_IFMT) == kind)


def _link(conn: Connection, parent: int, name: bytes, ino: int) -> None:
    i = schema.inode
    mode = conn.execute(select(i.c.mode).where(i.c.ino == ino)).scalar_one()
    conn.execute(
        insert(schema.dentry).values(
            parent=parent, hash=name_hash(name), name=name, ino=ino, type=(mode & S_IFMT) >> 12
        )
    )


def _insert_dir(conn: Connection, mode: int, **ino: int) -> CursorResult[Any]:
    """A new root-owned directory inode whose '..' is the root (fsck's root and lost+found)."""
    now = time.time_ns()
    return conn.execute(
        insert(schema.inode).values(
            **ino,
            mode=mode,
            nlink=2,
            uid=0,
            gid=0,
            rdev=0,
            size=0,
            blocks=0,
            atime=now,
            mtime=now,
            ctime=now,
            generation=0,
            parent=ROOT_INO,
        )
    )


def _lost_found(fs: VolFs, conn: Connection) -> int:
    d = schema.dentry
    where = and_(d.c.parent == ROOT_INO, d.c.hash == name_hash(LOST_FOUND), d.c.name == LOST_FOUND)
    ino = conn.execute(select(d.c.ino).where(where)).scalar()
    if ino is not None:
        return int(ino)
    result = _insert_dir(conn, stat.S_IFDIR | 0o700)
    new = result.inserted_primary_key
    assert new is not None
    _link(conn, ROOT_INO, LOST_FOUND, new[0])
    return int(new[0])


def _fix_counts(conn: Connection) -> None:
    """nlink from the dentries (directories: 2 + subdirectories; held orphans keep 0), '..' from a
    directory's dentry, and blocks from the chunks, for every inode."""
    d, i = schema.dentry, schema.inode
    links: dict[int, int] = defaultdict(int)
    subdirs: dict[int, int] = defaultdict(int)
    parent_of: dict[int, int] = {}
    for parent, ino, dtype in conn.execute(select(d.c.parent, d.c.ino, d.c.type)):
        links[ino] += 1
        parent_of[ino] = parent
        if dtype == stat.S_IFDIR >> 12:
            subdirs[parent] += 1
    blocks: dict[int, int] = dict(conn.exec_driver_sql(f"SELECT ino, {SECTORS_SUM} FROM chunk GROUP BY ino").all())
    for ino, mode, nlink, parent, stored in conn.execute(
        select(i.c.ino, i.c.mode, i.c.nlink, i.c.parent, i.c.blocks)
    ).all():
        values: dict[str, int | None] = {}
        if stat.S_ISDIR(mode):
            named = ino == ROOT_INO or links.get(ino, 0) > 0
            want = 2 + subdirs.get(ino, 0) if named else 0
            want_parent = ROOT_INO if ino == ROOT_INO else parent_of.get(ino)
            if parent != want_parent:
                values["parent"] = want_parent
        else:
            want = links.get(ino, 0)
        if nlink != want:
            values["nlink"] = want
        if stored != blocks.get(ino, 0):
            values["blocks"] = blocks.get(ino, 0)
        if values:
            conn.execute(update(i).where(i.c.ino == ino).values(**values))
