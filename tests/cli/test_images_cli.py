"""The image commands as a user runs them (subprocess): exit codes, one clear line per error, no
tracebacks, quiet in a pipe, and nothing stored is lost on bad input."""

from __future__ import annotations

import io
import random
import sqlite3
import subprocess
import sys
import tarfile
import time
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lxfs.cli import app
from lxfs.images.imagefs import ImageFs
from lxfs.volfs import fsck


def lxfs(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-c", "from lxfs.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out


def lxfs_in_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The same, in this process (typer's CliRunner): for tests that run many commands."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def error_lines(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("lxfs: error:")]


def small_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def listing(image: Path, directory: bytes = b"/") -> list[bytes]:
    with ImageFs.open(image, readonly=True) as fs:
        return sorted(fs.listdir(directory))


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.lxfs"
    out = lxfs("init", path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""
    return path


def test_main_entry_point_lists_the_image_commands() -> None:
    out = lxfs("--help")
    assert out.returncode == 0
    for command in ("init", "import", "export", "fsck", "info"):
        assert command in out.stdout


def test_init_refuses_to_overwrite(image: Path) -> None:
    before = image.read_bytes()
    out = lxfs("init", image)
    assert out.returncode == 1
    assert error_lines(out) == [f"lxfs: error: {image}: already exists (lxfs init never overwrites)"]
    assert image.read_bytes() == before


def test_import_is_quiet_in_a_pipe_and_stores(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"a/b": b"hello", "c": b"x" * 300_000})
    out = lxfs("import", image, tar, "--path", "/srv")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert listing(image, b"/srv") == [b"a", b"c"]
    assert fsck.check(image) == []


def test_import_of_hostile_members_exits_1_naming_each(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"../x": b"1", "fine": b"2", "a/../../y": b"3"})
    out = lxfs("import", image, tar, "--path", "/srv")
    assert out.returncode == 1
    refused = [line for line in out.stderr.splitlines() if "contains '..': refused" in line]
    assert len(refused) == 2
    assert error_lines(out) == ["lxfs: error: 2 member(s) not stored (see above)"]
    assert listing(image, b"/srv") == [b"fine"]
    assert fsck.check(image) == []


def test_truncated_tar_is_one_error_and_keeps_earlier_members(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"first": b"1" * 1000, "second": b"2" * 100_000})
    raw = tar.read_bytes()
    tar.write_bytes(raw[: raw.index(b"2" * 100) + 50_000])
    out = lxfs("import", image, tar)
    assert out.returncode == 1
    (line,) = error_lines(out)
    assert "member 'second'" in line and "the members before it were stored" in line
    assert b"first" in listing(image) and b"second" not in listing(image)
    assert fsck.check(image) == []


def test_not_a_tar_is_one_error(image: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8bnot really gzip" * 10)
    out = lxfs("import", image, junk)
    assert out.returncode == 1 and len(error_lines(out)) == 1
    assert fsck.check(image) == []


def test_bad_images_are_one_clear_error_each(tmp_path: Path, image: Path) -> None:
    plain = tmp_path / "plain.db"
    with closing(sqlite3.connect(plain)) as db, db:
        db.execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.lxfs"
    newer.write_bytes(image.read_bytes())
    with closing(sqlite3.connect(newer)) as db, db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    corrupt = tmp_path / "corrupt.lxfs"
    raw = bytearray(image.read_bytes())
    raw[4096:] = random.Random(4096).randbytes(len(raw) - 4096)  # the same damage every run
    corrupt.write_bytes(bytes(raw))
    text = tmp_path / "text"
    text.write_text("hello\n")
    cases = {
        plain: "an SQLite database, but not an lxfs image",
        newer: "schema version 99",
        corrupt: "damaged lxfs image",
        text: "not an lxfs image",
        tmp_path / "missing.lxfs": "no such image",
    }
    for path, message in cases.items():
        before = path.read_bytes() if path.exists() else None
        for command in (["info", path], ["fsck", path], ["import", path, text], ["export", path, tmp_path / "o.tar"]):
            out = lxfs_in_process(*command)
            assert out.returncode == 1, (command, out.stderr)
            (line,) = error_lines(out)
            assert message in line, (command, line)
        assert (path.read_bytes() if path.exists() else None) == before, path
        assert not (tmp_path / "o.tar").exists()


def test_second_writer_gets_a_clear_lock_message(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"x": b"1"})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"db = sqlite3.connect({str(image)!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        start = time.monotonic()
        out = lxfs("import", image, tar)
        assert out.returncode == 1
        (line,) = error_lines(out)
        assert "locked by another process" in line
        assert time.monotonic() - start < 25
    finally:
        holder.kill()
        holder.wait()
    assert lxfs("import", image, tar).returncode == 0
    assert b"x" in listing(image)
    assert fsck.check(image) == []


def test_fsck_reports_and_repairs(image: Path) -> None:
    assert (lxfs("fsck", image).returncode, lxfs("fsck", image).stdout) == (0, f"{image}: clean\n")
    with closing(sqlite3.connect(image)) as db, db:
        db.execute("UPDATE inode SET nlink = 7 WHERE ino = (SELECT ino FROM dentry WHERE name = x'746d70')")
    out = lxfs("fsck", image)
    assert out.returncode == 1
    assert any("inode" in line for line in out.stdout.splitlines()[:-1])
    assert out.stdout.splitlines()[-1].endswith("problem(s) found (run with --repair to fix)")
    out = lxfs("fsck", image, "--repair")
    assert out.returncode == 1 and "repaired" in out.stdout.splitlines()[-1]
    assert lxfs("fsck", image).returncode == 0


def test_info_shows_version_geometry_and_counts(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"f": b"z" * 200_000})
    assert lxfs("import", image, tar).returncode == 0
    out = lxfs("info", image)
    assert out.returncode == 0
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.stdout.splitlines())}
    assert fields["schema version"] == "1"
    assert fields["chunk size"].startswith("131072")
    assert fields["regular files"] == "1"
    assert fields["orphans"] == "0"
    assert fields["file data (apparent)"].startswith("200000")
    assert int(fields["inodes"]) == int(fields["directories"]) + 1
    assert fsck.check(image) == []


def test_export_round_trips_through_the_cli(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"d/f": b"data", "g": b""})
    assert lxfs("import", image, tar, "--path", "/srv").returncode == 0
    out_tar = tmp_path / "out.tar.xz"
    out = lxfs("export", image, out_tar, "--path", "/srv")
    assert (out.returncode, out.stderr) == (0, "")
    with tarfile.open(out_tar) as t:
        assert sorted(t.getnames()) == [".", "d", "d/f", "g"]
    second = tmp_path / "second.lxfs"
    assert lxfs("init", second).returncode == 0
    assert lxfs("import", second, out_tar, "--path", "/srv").returncode == 0
    assert listing(second, b"/srv") == [b"d", b"g"]
    assert fsck.check(image) == [] and fsck.check(second) == []


def test_import_from_stdin_and_export_to_stdout(image: Path, tmp_path: Path) -> None:
    tar = small_tar(tmp_path / "t.tar", {"a": b"from a pipe", "d/b": b"x" * 70_000})
    cli = [sys.executable, "-c", "from lxfs.cli import main; main()"]
    with open(tar, "rb") as stdin:
        out = subprocess.run([*cli, "import", str(image), "-", "--path", "/srv"], stdin=stdin, capture_output=True)
    assert (out.returncode, out.stderr) == (0, b"")
    out = subprocess.run([*cli, "export", str(image), "-", "--path", "/srv"], capture_output=True)
    assert out.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
        assert sorted(t.getnames()) == [".", "a", "d", "d/b"]
        member = t.extractfile("a")
        assert member is not None and member.read() == b"from a pipe"
    # A cut stream on stdin: one error, the complete members stored.
    cut = tar.read_bytes()[:1536]
    out = subprocess.run([*cli, "import", str(image), "-", "--path", "/tmp"], input=cut, capture_output=True)
    assert out.returncode == 1 and out.stderr.count(b"lxfs: error: stdin:") == 1
    assert fsck.check(image) == []


def test_host_file_errors_are_one_line(image: Path, tmp_path: Path) -> None:
    import socket

    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        out = lxfs_in_process("import", image, sock_path)  # open(2) of a socket: ENXIO
    assert out.returncode == 1
    assert error_lines(out) == [f"lxfs: error: {sock_path}: No such device or address"]
    out = lxfs_in_process("export", image, tmp_path / "no" / "dir" / "o.tar")
    assert out.returncode == 1 and error_lines(out) == [f"lxfs: error: {tmp_path / 'no' / 'dir'}: no such directory"]
    assert fsck.check(image) == []
