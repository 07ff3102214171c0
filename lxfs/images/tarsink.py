"""Writing Entries as a PAX tar (optionally gz/bz2/xz/zst): ns times, numeric owners, SCHILY.xattr.*,
hard links, devices, and sparse files in GNU's PAX sparse format 1.0 (holes take no space)."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import os
import stat
import tarfile
import urllib.parse
from collections.abc import Iterator
from typing import Any

import zstandard

from lxfs.images.entries import Entry, Warn, format_ns
from lxfs.images.tarsource import ENCODING, ERRORS

SUFFIXES = {
    ".tar": "",
    ".gz": "gz",
    ".tgz": "gz",
    ".bz2": "bz2",
    ".tbz2": "bz2",
    ".xz": "xz",
    ".txz": "xz",
    ".zst": "zst",
    ".tzst": "zst",
}


def compression_for(name: str) -> str:
    """The compression an output file name asks for (by suffix; anything else is a plain tar)."""
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return ""


def compressed_writer(raw: Any, kind: str) -> Any:
    """A writer that compresses into ``raw`` (file-like; the four libraries' stubs disagree)."""
    if kind == "gz":
        return gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)
    if kind == "bz2":
        return bz2.BZ2File(raw, mode="wb")
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="wb")
    if kind == "zst":
        return zstandard.ZstdCompressor(threads=-1).stream_writer(raw, closefd=False)
    return raw


class _Concat:
    """A file-like reader over an iterator of byte strings (tarfile.addfile copies ``size`` bytes)."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            try:
                self._buf += next(self._parts)
            except StopIteration:
                break
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _sparse_map(regions: list[tuple[int, int]], size: int) -> bytes:
    """GNU sparse 1.0 map: count, then offset/length pairs, one decimal per line, padded to a block.
    A final empty region at ``size`` records a trailing hole, as GNU tar does."""
    pairs = [*regions, (size, 0)] if not regions or sum(regions[-1]) < size else regions
    text = f"{len(pairs)}\n" + "".join(f"{o}\n{n}\n" for o, n in pairs)
    raw = text.encode("ascii")
    return raw + b"\0" * (-len(raw) % tarfile.BLOCKSIZE)


class TarWriter:
    """Writes entries to ``fileobj`` in order (parents before children, hard-link targets first)."""

    def __init__(self, fileobj: Any, warn: Warn) -> None:
        self._tar = tarfile.open(  # noqa: SIM115 (closed by close())
            fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, encoding=ENCODING, errors=ERRORS
        )
        self._warn = warn

    def close(self) -> None:
        """Write the end-of-archive blocks and flush."""
        self._tar.close()

    def abandon(self) -> None:
        """Flush what was written without ending the archive (it is being thrown away)."""
        self._tar.fileobj.close()

    def add(self, entry: Entry, sparse_regions: list[tuple[int, int]] | None = None) -> None:
        """Add one entry. For a regular file, ``sparse_regions`` (offset, length) lists where its data
        is when it has holes; then ``entry.data`` must yield exactly those bytes."""
        name = entry.path.decode(ENCODING, ERRORS)
        info = tarfile.TarInfo(name or ".")
        info.mode = entry.mode & 0o7777
        info.uid, info.gid = entry.uid, entry.gid
        info.uname = info.gname = ""
        info.mtime = entry.mtime_ns // 1_000_000_000
        pax: dict[str, str] = {"mtime": format_ns(entry.mtime_ns)}
        if entry.atime_ns is not None:
            pax["atime"] = format_ns(entry.atime_ns)
        for xname, value in entry.xattrs.items():
            pax.update(_xattr_record(xname, value))
        kind = entry.kind
        body: Any = None
        if entry.hardlink_to is not None:
            info.type = tarfile.LNKTYPE
            info.linkname = entry.hardlink_to.decode(ENCODING, ERRORS)
        elif kind == stat.S_IFREG:
            info.type = tarfile.REGTYPE
            parts = (block for _, block in entry.data()) if entry.data is not None else iter(())
            if sparse_regions is not None:
                smap = _sparse_map(sparse_regions, entry.size)
                pax.update(
                    {
                        "GNU.sparse.major": "1",
                        "GNU.sparse.minor": "0",
                        "GNU.sparse.name": info.name,
                        "GNU.sparse.realsize": str(entry.size),
                        # Readers apply "path" after GNU.sparse.name: both must carry the real name.
                        "path": info.name,
                    }
                )
                head, _, tail = info.name.rpartition("/")
                info.name = f"{head + '/' if head else ''}GNUSparseFile.0/{tail}"
                info.size = len(smap) + sum(n for _, n in sparse_regions)
                body = _Concat(_chain(smap, parts))
            else:
                info.size = entry.size
                body = _Concat(parts)
        elif kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
        elif kind == stat.S_IFLNK:
            info.type = tarfile.SYMTYPE
            info.linkname = entry.symlink_target.decode(ENCODING, ERRORS)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(entry.rdev), os.minor(entry.rdev)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
        else:
            self._warn(f"/{name}: socket ignored", problem=False)
            return
        info.pax_headers = pax
        self._tar.addfile(info, body)


def _xattr_record(name: bytes, value: bytes) -> dict[str, str]:
    """GNU tar's SCHILY.xattr.NAME=VALUE; for a name that is not UTF-8 or holds '=' (a PAX keyword
    cannot), libarchive's LIBARCHIVE.xattr.URL-ENCODED-NAME=BASE64-VALUE, which bsdtar and lxfs read."""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and "=" not in text:
        return {"SCHILY.xattr." + text: value.decode(ENCODING, ERRORS)}
    encoded = base64.b64encode(value).decode("ascii").rstrip("=")
    return {"LIBARCHIVE.xattr." + urllib.parse.quote_from_bytes(name, safe=""): encoded}


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
