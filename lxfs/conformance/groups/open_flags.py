# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""open(2) flags: O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW and the access modes."""

from __future__ import annotations

import os

from lxfs.conformance.model import Tester, perm, read_file, write_file


def _open_close(path: bytes, flags: int, mode: int = 0o666) -> None:
    os.close(os.open(path, flags, mode))


def _write_through(path: bytes, flags: int, data: bytes, seek: int | None = None) -> None:
    fd = os.open(path, flags)
    try:
        if seek is not None:
            os.lseek(fd, seek, os.SEEK_SET)
        os.write(fd, data)
    finally:
        os.close(fd)


def _pwrite_through(path: bytes, flags: int, data: bytes, offset: int) -> None:
    fd = os.open(path, flags)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _io_on(path: bytes, flags: int, op: str) -> object:
    fd = os.open(path, flags)
    try:
        return os.read(fd, 10) if op == "read" else os.write(fd, b"x")
    finally:
        os.close(fd)


def run(t: Tester) -> None:
    p = t.p
    W, C, X = os.O_WRONLY, os.O_CREAT, os.O_EXCL
    t.expect("creat_makes_regular_file", "ok", lambda: _open_close(p("new"), W | C, 0o666))
    t.expect("creat_mode_honours_umask_022", 0o644, lambda: perm(p("new")))
    t.expect("creat_excl_on_existing_is_EEXIST", "EEXIST", lambda: _open_close(p("new"), W | C | X))
    t.expect("creat_on_existing_keeps_data", b"", lambda: read_file(p("new")))
    os.symlink(b"missing-target", p("dangling"))
    t.expect("creat_excl_on_dangling_symlink_is_EEXIST", "EEXIST", lambda: _open_close(p("dangling"), W | C | X))
    t.expect("creat_through_dangling_symlink_creates_target", "ok", lambda: _open_close(p("dangling"), W | C))
    t.expect("dangling_symlink_target_now_exists", True, lambda: os.path.isfile(p("missing-target")))
    t.expect("open_missing_is_ENOENT", "ENOENT", lambda: _open_close(p("nope"), os.O_RDONLY))
    t.expect("open_under_a_file_is_ENOTDIR", "ENOTDIR", lambda: _open_close(p("new", "x"), os.O_RDONLY))
    t.expect("creat_with_trailing_slash_is_EISDIR", "EISDIR", lambda: _open_close(p("fresh/"), W | C))
    t.expect("creat_name_too_long_is_ENAMETOOLONG", "ENAMETOOLONG", lambda: _open_close(p("n" * 256), W | C))
    t.expect("creat_name_of_255_bytes_is_ok", "ok", lambda: _open_close(p("n" * 255), W | C))

    write_file(p("full"), b"0123456789")
    t.expect("trunc_empties_file", 0, lambda: (_open_close(p("full"), W | os.O_TRUNC), os.stat(p("full")).st_size)[1])
    write_file(p("full"), b"0123456789")
    t.expect(
        "trunc_with_rdonly_truncates_too",
        0,
        lambda: (_open_close(p("full"), os.O_RDONLY | os.O_TRUNC), os.stat(p("full")).st_size)[1],
    )

    write_file(p("log"), b"abc")
    t.expect(
        "append_writes_at_end_despite_lseek",
        b"abcde",
        lambda: (_write_through(p("log"), W | os.O_APPEND, b"de", seek=0), read_file(p("log")))[1],
    )
    t.expect(
        "append_pwrite_still_appends",
        b"abcdeXY",
        lambda: (_pwrite_through(p("log"), W | os.O_APPEND, b"XY", 0), read_file(p("log")))[1],
    )

    os.mkdir(p("dir"))
    os.symlink(b"dir", p("dirlink"))
    os.symlink(b"full", p("filelink"))
    t.expect(
        "directory_flag_on_file_is_ENOTDIR", "ENOTDIR", lambda: _open_close(p("full"), os.O_RDONLY | os.O_DIRECTORY)
    )
    t.expect("directory_flag_on_dir_is_ok", "ok", lambda: _open_close(p("dir"), os.O_RDONLY | os.O_DIRECTORY))
    t.expect(
        "directory_flag_through_symlink_to_dir_is_ok",
        "ok",
        lambda: _open_close(p("dirlink"), os.O_RDONLY | os.O_DIRECTORY),
    )
    t.expect("nofollow_on_symlink_is_ELOOP", "ELOOP", lambda: _open_close(p("filelink"), os.O_RDONLY | os.O_NOFOLLOW))
    write_file(p("dir", "inner"))
    t.expect(
        "nofollow_only_applies_to_last_component",
        "ok",
        lambda: _open_close(p("dirlink", "inner"), os.O_RDONLY | os.O_NOFOLLOW),
    )
    t.expect(
        "nofollow_with_trailing_slash_follows",
        "ok",
        lambda: _open_close(p("dirlink", ""), os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY),
    )
    t.expect(
        "nofollow_directory_on_symlink_is_ENOTDIR",
        "ENOTDIR",
        lambda: _open_close(p("dirlink"), os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY),
    )
    t.expect("dir_wronly_is_EISDIR", "EISDIR", lambda: _open_close(p("dir"), W))
    t.expect("dir_rdwr_is_EISDIR", "EISDIR", lambda: _open_close(p("dir"), os.O_RDWR))
    t.expect("creat_on_existing_dir_is_EISDIR", "EISDIR", lambda: _open_close(p("dir"), W | C))
    t.expect("dir_rdonly_is_ok", "ok", lambda: _open_close(p("dir"), os.O_RDONLY))
    t.expect("read_dir_fd_is_EISDIR", "EISDIR", lambda: _io_on(p("dir"), os.O_RDONLY, "read"))
    t.expect("read_on_wronly_fd_is_EBADF", "EBADF", lambda: _io_on(p("full"), W, "read"))
    t.expect("write_on_rdonly_fd_is_EBADF", "EBADF", lambda: _io_on(p("full"), os.O_RDONLY, "write"))
    t.expect("rdwr_reads_and_writes", 1, lambda: _io_on(p("full"), os.O_RDWR, "write"))
    t.expect("open_trailing_slash_on_file_is_ENOTDIR", "ENOTDIR", lambda: _open_close(p("full/"), os.O_RDONLY))
    t.expect("open_empty_path_is_ENOENT", "ENOENT", lambda: _open_close(b"", os.O_RDONLY))
