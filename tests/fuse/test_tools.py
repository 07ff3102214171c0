"""Real tools on the mount, compared with the same work on the host's tmpfs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import Mounted
from .treecmp import build_tree, snapshot


def sh(cmd: str, cwd: str | None = None, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, f"{cmd}: {res.stderr}"
    return res.stdout


@pytest.fixture
def source(host_dir: str) -> str:
    src = os.path.join(host_dir, "src")
    os.mkdir(src)
    build_tree(src)
    return src


def test_cp_a_preserves_everything_like_tmpfs(mounted: Mounted, host_dir: str, source: str) -> None:
    sh(f"cp -a {source}/. {host_dir}/copy")
    sh(f"cp -a {source}/. {mounted.path}/copy")
    assert snapshot(f"{mounted.path}/copy") == snapshot(f"{host_dir}/copy") == snapshot(source)


def test_tar_across_the_mount_boundary_round_trips(mounted: Mounted, host_dir: str, source: str) -> None:
    tar = "tar --xattrs --xattrs-include='user.*'"
    os.mkdir(f"{mounted.path}/t")
    os.mkdir(f"{host_dir}/back")
    sh(f"{tar} -C {source} -cf - . | {tar} -C {mounted.path}/t -xpf -")
    sh(f"{tar} -C {mounted.path}/t -cf - . | {tar} -C {host_dir}/back -xpf -")
    assert snapshot(f"{mounted.path}/t") == snapshot(source)
    assert snapshot(f"{host_dir}/back") == snapshot(source)


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")
def test_rsync_a_like_tmpfs(mounted: Mounted, host_dir: str, source: str) -> None:
    sh(f"rsync -aHX {source}/ {mounted.path}/r/")
    sh(f"rsync -aHX {source}/ {host_dir}/r/")
    assert snapshot(f"{mounted.path}/r") == snapshot(f"{host_dir}/r")
    # a second run finds nothing to do (sizes and mtimes match exactly)
    assert sh(f"rsync -aHXi {source}/ {mounted.path}/r/").strip() == ""


def test_find_and_du_like_tmpfs(mounted: Mounted, host_dir: str, source: str) -> None:
    sh(f"cp -a {source}/. {mounted.path}/f")
    sh(f"cp -a {source}/. {host_dir}/f")
    fmt = r"'%p %y %m %n %u %g %l %TY-%Tm-%Td+%TT\n'"
    assert sh(f"find . -printf {fmt} | sort", cwd=f"{mounted.path}/f") == sh(
        f"find . -printf {fmt} | sort", cwd=f"{host_dir}/f"
    )
    # find -ls without inode, blocks and directory sizes
    cut = 'awk \'{ if ($3 ~ /^d/) $7 = "-"; $1 = $2 = ""; print }\' | sort'
    assert sh(f"find . -ls | {cut}", cwd=f"{mounted.path}/f") == sh(f"find . -ls | {cut}", cwd=f"{host_dir}/f")
    files = "find . ! -type d -print0 | sort -z | xargs -0 du -b --apparent-size"
    assert sh(files, cwd=f"{mounted.path}/f") == sh(files, cwd=f"{host_dir}/f")
    assert int(sh("du -sk .", cwd=f"{mounted.path}/f").split()[0]) > 0


def test_git_commit_gives_the_same_commit_as_on_tmpfs(mounted: Mounted, host_dir: str, source: str) -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_AUTHOR_DATE="2020-01-01T00:00:00Z",
        GIT_COMMITTER_DATE="2020-01-01T00:00:00Z",
        HOME=host_dir,
    )
    heads = []
    for base in (mounted.path, host_dir):
        repo = os.path.join(base, "repo")
        os.mkdir(repo)
        sh("git init -q -b main .", cwd=repo, env=env)
        sh(f"cp -r {source}/a {source}/one {source}/chunky {source}/dangling .", cwd=repo, env=env)
        sh("git add -A && git commit -q -m first", cwd=repo, env=env)
        sh("echo more >> one && git mv chunky big && git commit -qam second", cwd=repo, env=env)
        assert sh("git status --porcelain", cwd=repo, env=env) == ""
        sh("git fsck --strict --no-progress", cwd=repo, env=env)
        heads.append(sh("git rev-parse HEAD", cwd=repo, env=env))
    assert heads[0] == heads[1]


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_sqlite3_database_inside_the_mount(mounted: Mounted, host_dir: str, journal: str) -> None:
    script = (
        f"PRAGMA journal_mode={journal};"
        "CREATE TABLE t(i INTEGER PRIMARY KEY, s TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
        " INSERT INTO t SELECT i, printf('row %d', i) FROM n;"
        "BEGIN; UPDATE t SET s = s || '!' WHERE i % 7 = 0; DELETE FROM t WHERE i % 11 = 0; COMMIT;"
        "VACUUM;"
        "SELECT count(*), sum(i), max(length(s)) FROM t; PRAGMA integrity_check;"
    )
    out = [sh(f'sqlite3 {base}/db.sqlite "{script}"') for base in (mounted.path, host_dir)]
    assert out[0] == out[1]
    assert out[0].strip().endswith("ok")
