"""Reading tars: a GNU tar of a host tree reads back as the host tree itself (differential), every
compression, every GNU sparse format, and hostile or damaged archives."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from lxfs.images.entries import Entry, format_ns, normalize_member, parse_ns
from lxfs.images.hostsource import read_host_tree
from lxfs.images.tarsource import ArchiveError, Warn, read_tar
from tests.images.trees import GNU_TAR_CREATE, first_difference, make_tree, snapshot


def gnu_tar(src: bytes, out: Path, *extra: str) -> None:
    subprocess.run(
        [*GNU_TAR_CREATE, *extra, "-C", os.fsdecode(src), "-cf", str(out), "."],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_tree(tmp_path_factory.mktemp("tree") / "root")


def host_snapshot(root: bytes) -> dict:
    warn = Warn()
    snap = snapshot(read_host_tree(root, warn), atime=False)
    assert warn.messages == [f"{os.fsdecode(root)}/sock: socket ignored"]
    return snap


@pytest.mark.parametrize("sparse", ["0.0", "0.1", "1.0"])
def test_gnu_tar_of_host_tree_reads_as_the_host_tree(tree: bytes, tmp_path: Path, sparse: str) -> None:
    out = tmp_path / "t.tar"
    gnu_tar(tree, out, "--sparse", f"--sparse-version={sparse}")
    warn = Warn()
    got = snapshot(read_tar(out, warn), atime=False)
    assert warn.problems == 0, warn.messages
    assert first_difference(host_snapshot(tree), got) is None


@pytest.mark.parametrize("flag", ["-z", "-j", "-J", "--zstd"])
def test_every_compression_reads_the_same(tree: bytes, tmp_path: Path, flag: str) -> None:
    out = tmp_path / "t.tar.c"
    gnu_tar(tree, out, flag)
    got = snapshot(read_tar(out, Warn()), atime=False)
    assert first_difference(host_snapshot(tree), got) is None


def test_pax_times_keep_nanoseconds_and_signs() -> None:
    for ns in (0, 1, 999_999_999, 1_700_000_000_123_456_789, -1, -1_500_000_000, -31_536_000_500_000_000):
        assert parse_ns(format_ns(ns)) == ns
    assert parse_ns("1.5") == 1_500_000_000
    assert parse_ns("-0.000000001") == -1


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def test_dotdot_members_are_refused_and_leading_slash_stripped(tmp_path: Path) -> None:
    raw = _tar_bytes(
        [
            (_member("../escape"), b"x"),
            (_member("a/../../escape2"), b"x"),
            (_member("/etc/abs"), b"abs"),
            (_member("ok"), b"fine"),
            (_member("hl", tarfile.LNKTYPE, "../outside"), None),
            (_member("hl2", tarfile.LNKTYPE, "/ok"), None),
        ]
    )
    (tmp_path / "t.tar").write_bytes(raw)
    warn = Warn()
    entries = [(e.path, e.hardlink_to) for e in read_tar(tmp_path / "t.tar", warn)]
    assert entries == [(b"etc/abs", None), (b"ok", None), (b"hl2", b"ok")]
    assert warn.problems == 3
    assert any("'..'" in m and "../escape" in m for m in warn.messages)
    assert any("removing leading '/'" in m for m in warn.messages)
    assert any("hard link target" in m for m in warn.messages)


def test_symlink_targets_are_kept_as_written() -> None:
    assert normalize_member(b"./a//b/./c") == (b"a/b/c", False)
    with pytest.raises(Exception, match="escape"):
        normalize_member(b"x/../../escape")


def _consume(entries: list[Entry]) -> None:
    for e in entries:
        if e.data is not None:
            for _ in e.data():
                pass


def _read_all(path: Path) -> tuple[list[bytes], ArchiveError | None]:
    names: list[bytes] = []
    try:
        for e in read_tar(path, Warn()):
            if e.data is not None:
                for _ in e.data():
                    pass
            names.append(e.path)
    except ArchiveError as exc:
        return names, exc
    return names, None


def test_truncated_tar_keeps_members_before_the_cut_and_says_where(tmp_path: Path) -> None:
    raw = _tar_bytes([(_member("one"), b"1" * 1000), (_member("two"), b"2" * 5000), (_member("three"), b"3")])
    # Cut inside the data of "two": its header is read, its data is not complete.
    cut = raw.index(b"2" * 100) + 2000
    (tmp_path / "t.tar").write_bytes(raw[:cut])
    names, err = _read_all(tmp_path / "t.tar")
    assert names == [b"one"]
    assert err is not None and "in the data of member 'two'" in str(err)
    # Cut at the header of "three" (no end-of-archive blocks), and inside that header.
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        boundary = tar.getmember("three").offset
    for size in (boundary, boundary + 200):
        (tmp_path / "b.tar").write_bytes(raw[:size])
        names, err = _read_all(tmp_path / "b.tar")
        assert names == [b"one", b"two"]
        assert err is not None and "truncated after member 'two'" in str(err)


def test_truncated_compressed_tar_is_an_error_naming_the_last_member(tmp_path: Path) -> None:
    raw = _tar_bytes([(_member("one"), os.urandom(100_000)), (_member("two"), os.urandom(100_000))])
    import gzip

    packed = gzip.compress(raw)
    (tmp_path / "t.tar.gz").write_bytes(packed[: len(packed) * 3 // 4])
    names, err = _read_all(tmp_path / "t.tar.gz")
    assert names == [b"one"]
    assert err is not None


def test_not_a_tar_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"this is not a tar archive\n" * 100)
    names, err = _read_all(tmp_path / "x.tar")
    assert names == []
    assert err is not None and "not a tar archive" in str(err)
    (tmp_path / "empty.tar").write_bytes(b"")
    names, err = _read_all(tmp_path / "empty.tar")
    assert err is not None


@pytest.mark.parametrize("fmt", ["gnu", "ustar"])
def test_older_formats_read_as_the_host_tree_up_to_what_they_store(tree: bytes, tmp_path: Path, fmt: str) -> None:
    """GNU (long names, old sparse headers) and ustar archives: whole-second times, no xattrs."""
    out = tmp_path / "t.tar"
    sparse = ["--sparse"] if fmt == "gnu" else []  # ustar has no sparse files
    argv = ["tar", f"--format={fmt}", "--numeric-owner", *sparse, "-C", os.fsdecode(tree), "-cf", str(out), "."]
    # ustar refuses the long names and the big minor number: those members are missing, checked below
    subprocess.run(argv, capture_output=True)
    got = snapshot(read_tar(out, Warn()), atime=False)
    want = {
        path: dataclasses.replace(r, mtime_ns=r.mtime_ns // 10**9 * 10**9, xattrs=())
        for path, r in host_snapshot(tree).items()
    }
    if fmt == "ustar":
        want = {p: r for p, r in want.items() if p in got}
        assert len(want) >= len(got) > 20
    assert first_difference(want, got) is None
