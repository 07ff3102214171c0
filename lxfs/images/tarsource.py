"""Reading tar archives (plain, gzip, bzip2, xz, zstd) as a stream of Entries: PAX ns times, numeric
owners, xattrs (SCHILY.xattr.*, LIBARCHIVE.xattr.*), GNU and PAX sparse members, hard links; unsafe
member names are refused, and a truncated archive is reported with the place it ends."""

from __future__ import annotations

import base64
import bz2
import contextlib
import gzip
import io
import lzma
import os
import stat
import tarfile
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import zstandard

from lxfs.images.entries import IO_SIZE, Entry, UnsafePath, Warn, normalize_member, parse_ns

ENCODING = "utf-8"
ERRORS = "surrogateescape"  # names are bytes: undecodable ones survive the str round trip

# Errors a decompressor raises on a damaged or cut-off stream.
DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    lzma.LZMAError,
    zstandard.ZstdError,
    OSError,
)


DATA_ERRORS: tuple[type[BaseException], ...] = (tarfile.ReadError, *DECOMPRESS_ERRORS)


class ArchiveError(Exception):
    """The archive cannot be read further (truncated, corrupt, not a tar). Entries before it were read."""


class CountingReader:
    """A read-only file wrapper that counts the bytes read through it (progress and error offsets)."""

    def __init__(self, raw: Any, on_read: Callable[[int], None] | None = None) -> None:
        self.raw = raw
        self.count = 0
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self._on_read is not None and data:
            self._on_read(len(data))
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def compression_of(head: bytes) -> str:
    """The compression of a stream from its first bytes: ``gz``, ``bz2``, ``xz``, ``zst`` or ``""``."""
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zst"
    return ""


def decompressed(raw: Any, kind: str) -> Any:
    """A reader of the decompressed stream (file-like; the stubs of the four libraries disagree)."""
    if kind == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(raw, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    if kind == "zst":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def _member_name(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


def _xattrs(pax: Mapping[str, str], warn: Warn, name: str) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for key, value in pax.items():
        if key.startswith("SCHILY.xattr."):
            out[_member_name(key[len("SCHILY.xattr.") :])] = value.encode(ENCODING, ERRORS)
        elif key.startswith("LIBARCHIVE.xattr."):
            # libarchive: URL-encoded name, base64 value without padding.
            xname = urllib.parse.unquote_to_bytes(key[len("LIBARCHIVE.xattr.") :])
            raw = value.encode("ascii", ERRORS)
            out[xname] = base64.b64decode(raw + b"=" * (-len(raw) % 4))
        elif key.startswith("SCHILY.acl."):
            warn(f"{name}: POSIX ACL ({key}) not stored")
    return out


def _mtime_ns(info: tarfile.TarInfo) -> int:
    text = info.pax_headers.get("mtime")
    if text is not None:
        return parse_ns(text)
    return int(info.mtime) * 1_000_000_000


def _file_data(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], Iterator[tuple[int, bytes]]]:
    def segments() -> Iterator[tuple[int, bytes]]:
        member = tar.extractfile(info)
        assert member is not None
        # The unbuffered reader: it seeks forward within the member without asking the stream to seek.
        f: Any = member.raw  # type: ignore[attr-defined]
        # GNU/PAX sparse members: only the stored segments are data; the rest are holes.
        regions: list[tuple[int, int]] = info.sparse if info.sparse is not None else [(0, info.size)]  # type: ignore[assignment]
        for start, length in regions:
            f.seek(start)
            done = 0
            while done < length:
                want = min(IO_SIZE, length - done)
                try:
                    block = f.read(want)
                except DATA_ERRORS as exc:
                    block = b""
                    why = f" ({exc})"
                else:
                    why = ""
                if len(block) != want:
                    raise ArchiveError(
                        f"archive truncated or damaged in the data of member {info.name!r} "
                        f"(header at byte {info.offset}, {start + done} of {info.size} bytes read){why}"
                    )
                yield start + done, block
                done += want

    return segments


def read_tar(
    source: os.PathLike[str] | str | BinaryIO, warn: Warn, on_read: Callable[[int], None] | None = None
) -> Iterator[Entry]:
    """The members of the tar at ``source`` (a path, or a binary stream such as stdin) as Entries, in
    archive order. Each entry's data must be consumed before the next entry is requested (the archive
    is read as a stream). Raises ArchiveError for a damaged archive, after yielding every complete
    member before the damage."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, os.PathLike)):
            fh: Any = stack.enter_context(open(source, "rb"))
        else:
            fh = source if hasattr(source, "peek") else io.BufferedReader(source)
        kind = compression_of(fh.peek(8)[:8])  # without consuming: pipes cannot seek back
        counted_raw = CountingReader(fh, on_read)
        try:
            stream = decompressed(counted_raw, kind)
        except DECOMPRESS_ERRORS as exc:
            raise ArchiveError(f"cannot decompress ({kind}): {exc}") from None
        counted = CountingReader(stream)
        try:
            tar = tarfile.open(fileobj=counted, mode="r|", encoding=ENCODING, errors=ERRORS)  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.ReadError as exc:
            raise ArchiveError(f"not a tar archive ({exc})") from None
        except DECOMPRESS_ERRORS as exc:
            raise ArchiveError(f"damaged {kind or 'tar'} stream at the start: {exc}") from None
        last = "the start of the archive"
        with tar:
            while True:
                try:
                    info = tar.next()
                except tarfile.ReadError as exc:
                    raise ArchiveError(f"damaged header after {last} (byte {tar.offset}): {exc}") from None
                except DECOMPRESS_ERRORS as exc:
                    raise ArchiveError(f"{kind or 'tar'} stream ends or is damaged after {last}: {exc}") from None
                if info is None:
                    break
                entry = _entry(tar, info, warn)
                if entry is not None:
                    yield entry
                last = f"member {info.name!r}"
            # tarfile stops quietly at a cut-off header; a complete archive has its zero end block.
            try:
                while counted.read(IO_SIZE):
                    pass
            except DECOMPRESS_ERRORS as exc:
                raise ArchiveError(f"{kind or 'tar'} stream ends or is damaged after {last}: {exc}") from None
            if counted.count < tar.offset + tarfile.BLOCKSIZE:
                raise ArchiveError(f"archive truncated after {last} (byte {counted.count} of a tar stream)")


def _entry(tar: tarfile.TarFile, info: tarfile.TarInfo, warn: Warn) -> Entry | None:
    raw_name = _member_name(info.name)
    try:
        path, stripped = normalize_member(raw_name)
    except UnsafePath:
        warn(f"{info.name}: member name contains '..': refused")
        return None
    if stripped:
        warn(f"{info.name}: removing leading '/' from member name", problem=False)
    pax = info.pax_headers
    entry = Entry(
        path=path,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        mtime_ns=_mtime_ns(info),
        atime_ns=parse_ns(pax["atime"]) if "atime" in pax else None,
        xattrs=_xattrs(pax, warn, info.name),
    )
    if info.islnk():
        try:
            target, _ = normalize_member(_member_name(info.linkname))
        except UnsafePath:
            warn(f"{info.name}: hard link target {info.linkname!r} contains '..': refused")
            return None
        entry.mode |= stat.S_IFREG
        entry.hardlink_to = target
    elif info.isreg():
        entry.mode |= stat.S_IFREG
        entry.size = info.size
        entry.data = _file_data(tar, info)
    elif info.isdir():
        entry.mode |= stat.S_IFDIR
    elif info.issym():
        entry.mode |= stat.S_IFLNK
        entry.symlink_target = _member_name(info.linkname)  # stored as-is, never followed on the host
    elif info.ischr() or info.isblk():
        entry.mode |= stat.S_IFCHR if info.ischr() else stat.S_IFBLK
        entry.rdev = os.makedev(info.devmajor, info.devminor)
    elif info.isfifo():
        entry.mode |= stat.S_IFIFO
    else:
        warn(f"{info.name}: unsupported member type {info.type!r}: skipped")
        return None
    if not path and entry.kind != stat.S_IFDIR:
        warn(f"{info.name}: names the destination itself: refused")
        return None
    return entry
