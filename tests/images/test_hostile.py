"""Hostile and damaged input into an image: members that climb out (``..``), symlinks planted to
redirect later members, hard links to outside, truncated archives (what came before stays), members
that collide with what is there. Nothing leaves the destination; every image ends fsck clean."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from lxfs.images import ToolError, Warn, import_into, init_image
from lxfs.images.imagefs import ImageFs
from lxfs.volfs import fsck


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def write_tar(path: Path, members: list) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.lxfs"
    init_image(path)
    with ImageFs.open(path) as fs:
        writer_file = fs.create_file(b"/etc/passwd", 0o644)
        fs.write(writer_file, 0, b"root:x:0:0::/root:/bin/sh\n")
        fs.close_file(writer_file)
    return path


def read(path: Path, name: bytes) -> bytes | None:
    with ImageFs.open(path, readonly=True) as fs:
        st = fs.lstat(name)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            return b"-> " + fs.readlink(name)
        with fs.reading(name) as f:
            return f.pread(1 << 20, 0)


def names(path: Path, directory: bytes) -> list[bytes]:
    with ImageFs.open(path, readonly=True) as fs:
        return sorted(fs.listdir(directory))


def assert_clean(path: Path) -> None:
    assert [str(p) for p in fsck.check(path)] == []


def test_dotdot_members_never_leave_the_destination(image: Path, tmp_path: Path) -> None:
    tar = write_tar(
        tmp_path / "t.tar",
        [
            member("../../etc/passwd", data=b"pwned\n"),
            member("a/../../../etc/passwd", data=b"pwned\n"),
            member("ok", data=b"fine"),
        ],
    )
    warn = Warn()
    result = import_into(image, tar, b"/srv", warn, show_progress=False)
    assert result.problems == 2
    assert read(image, b"/etc/passwd") == b"root:x:0:0::/root:/bin/sh\n"
    assert names(image, b"/srv") == [b"ok"]
    assert_clean(image)


def test_planted_symlink_does_not_redirect_later_members(image: Path, tmp_path: Path) -> None:
    tar = write_tar(
        tmp_path / "t.tar",
        [
            member("evil", tarfile.SYMTYPE, "/etc"),
            member("evil/passwd", data=b"pwned\n"),
            member("up", tarfile.SYMTYPE, "../.."),
            member("up/etc/passwd", data=b"pwned\n"),
            member("hl", tarfile.LNKTYPE, "evil/passwd"),
        ],
    )
    warn = Warn()
    import_into(image, tar, b"/srv", warn, show_progress=False)
    assert warn.problems == 3, warn.messages
    assert any("goes through the symlink /evil" in m for m in warn.messages)
    assert read(image, b"/etc/passwd") == b"root:x:0:0::/root:/bin/sh\n"
    # Symlink targets are stored exactly as written (absolute ones are never followed on the host).
    assert read(image, b"/srv/evil") == b"-> /etc"
    assert read(image, b"/srv/up") == b"-> ../.."
    assert_clean(image)


def test_hard_links_to_outside_are_refused(image: Path, tmp_path: Path) -> None:
    tar = write_tar(
        tmp_path / "t.tar",
        [
            member("a", tarfile.LNKTYPE, "../etc/passwd"),
            member("b", tarfile.LNKTYPE, "/etc/passwd"),  # '/' stripped: /srv/etc/passwd, which is not there
            member("c", tarfile.LNKTYPE, "missing"),
            member("f", data=b"x"),
            member("g", tarfile.LNKTYPE, "f"),
        ],
    )
    warn = Warn()
    import_into(image, tar, b"/srv", warn, show_progress=False)
    assert warn.problems == 3, warn.messages
    assert names(image, b"/srv") == [b"f", b"g"]
    with ImageFs.open(image, readonly=True) as fs:
        passwd, f = fs.lstat(b"/etc/passwd"), fs.lstat(b"/srv/f")
        assert passwd is not None and passwd.st_nlink == 1
        assert f is not None and f.st_nlink == 2
    assert_clean(image)


def test_members_replace_files_but_not_full_directories(image: Path, tmp_path: Path) -> None:
    first = write_tar(
        tmp_path / "1.tar", [member("d/x", data=b"1"), member("f", data=b"old"), member("e/", tarfile.DIRTYPE)]
    )
    import_into(image, first, b"/srv", show_progress=False)
    second = write_tar(
        tmp_path / "2.tar",
        [member("f", data=b"new"), member("d", data=b"file over a full dir"), member("e", tarfile.SYMTYPE, "f")],
    )
    warn = Warn()
    import_into(image, second, b"/srv", warn, show_progress=False)
    assert read(image, b"/srv/f") == b"new"
    assert read(image, b"/srv/d/x") == b"1"  # not removed: the member is refused
    assert read(image, b"/srv/e") == b"-> f"  # an empty directory is replaced, as GNU tar does
    assert warn.problems == 1 and "Directory not empty" in warn.messages[0]
    assert_clean(image)


def test_truncated_archive_keeps_what_came_before_and_says_where(image: Path, tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("one", b"1" * 70000), ("two", b"2" * 300000), ("three", b"3")):
            info, _ = member(name, data=data)
            tar.addfile(info, io.BytesIO(data))
    cut = raw.getvalue().index(b"2" * 1000) + 200_000
    path = tmp_path / "cut.tar"
    path.write_bytes(raw.getvalue()[:cut])
    with pytest.raises(ToolError, match=r"in the data of member 'two'.*members before it were stored"):
        import_into(image, path, b"/srv", show_progress=False)
    assert names(image, b"/srv") == [b"one"]
    assert read(image, b"/srv/one") == b"1" * 70000
    assert_clean(image)


def test_import_into_a_missing_directory_is_an_error(image: Path, tmp_path: Path) -> None:
    tar = write_tar(tmp_path / "t.tar", [member("x", data=b"x")])
    with pytest.raises(ToolError, match="no such directory in the image"):
        import_into(image, tar, b"/nope", show_progress=False)
    assert_clean(image)


def test_truncated_big_member_written_outside_a_transaction_is_removed(image: Path, tmp_path: Path) -> None:
    from lxfs.images.sink import BIG_FILE

    path = tmp_path / "big.tar"
    big = b"\xa5" * (BIG_FILE + (1 << 20))
    write_tar(path, [member("small", data=b"kept"), member("big", data=big)])
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - (4 << 20)])
    with pytest.raises(ToolError, match=r"in the data of member 'big'"):
        import_into(image, path, b"/srv", show_progress=False)
    assert names(image, b"/srv") == [b"small"]
    assert_clean(image)


def test_import_into_a_symlinked_directory_follows_it_once(image: Path, tmp_path: Path) -> None:
    with ImageFs.open(image) as fs:
        fs.symlink(b"srv", b"/data")
    tar = write_tar(tmp_path / "t.tar", [member("./", tarfile.DIRTYPE, mode=0o700), member("x", data=b"1")])
    import_into(image, tar, b"/data", show_progress=False)
    assert read(image, b"/data") == b"-> srv"  # the link itself is left alone
    assert names(image, b"/srv") == [b"x"]
    with ImageFs.open(image, readonly=True) as fs:
        st = fs.lstat(b"/srv")
        assert st is not None and stat.S_IMODE(st.st_mode) == 0o700
    assert_clean(image)
