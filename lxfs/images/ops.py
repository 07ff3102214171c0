"""The image operations behind the CLI: init (optionally --from-host), import (tar or host directory),
export, info, and the default image. User-facing failures raise ToolError with one clear message."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxfs.images import fromhost, layout
from lxfs.images.entries import Entry, Warn, describe
from lxfs.images.hostsource import host_entry, read_host_tree
from lxfs.images.imagefs import ImageFs
from lxfs.images.imagesource import read_image
from lxfs.images.progress import progress
from lxfs.images.sink import ImageWriter
from lxfs.images.tarsink import TarWriter, compressed_writer, compression_for
from lxfs.images.tarsource import ArchiveError, read_tar
from lxfs.vfs.errors import FsError
from lxfs.volfs.layout import CHUNK_SIZE, ImageError


class ToolError(Exception):
    """A failure to report to the user as one line (no traceback)."""


@contextlib.contextmanager
def _user_errors(image: str | os.PathLike[str]) -> Iterator[None]:
    """Turn the failures a user can cause into ToolError."""
    try:
        yield
    except ImageError as exc:
        raise ToolError(str(exc)) from None
    except FsError as exc:
        raise ToolError(f"{os.fspath(image)}: {exc.strerror}") from None
    except sqlite3.Error as exc:
        raise ToolError(f"{os.fspath(image)}: damaged lxfs image ({exc})") from None


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _publish(tmp: Path, path: Path) -> None:
    """Move a finished image into place without overwriting anything that appeared meanwhile."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ToolError(f"{path}: already exists") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _remove_image(tmp: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", "-holds"):  # VolFs's side files too
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{tmp}{suffix}")


def _build(path: str | os.PathLike[str], fill: Callable[[ImageWriter], None], warn: Warn) -> None:
    """Create an image at ``path`` (refusing an existing file), filled by ``fill``; it appears only when
    complete."""
    target = Path(path)
    if target.exists() or target.is_symlink():
        raise ToolError(f"{target}: already exists (lxfs init never overwrites)")
    if not target.parent.is_dir():
        raise ToolError(f"{target.parent}: no such directory")
    tmp = _temp_beside(target)
    _remove_image(tmp)
    try:
        with _user_errors(target):
            image = ImageFs.new_image(tmp)
            try:
                writer = ImageWriter(image, warn, trusted=True)
                fill(writer)
                writer.finish()
            finally:
                image.close()
        if os.path.exists(f"{tmp}-wal") and os.path.getsize(f"{tmp}-wal"):
            raise ToolError(f"{target}: the new image could not be checkpointed (is {tmp} open elsewhere?)")
        _publish(tmp, target)
    finally:
        _remove_image(tmp)


def init_image(path: str | os.PathLike[str], from_host: Sequence[str] = (), warn: Warn | None = None) -> None:
    """A new image with the standard directories; with ``from_host``, also those programs or packages
    from the host with their libraries (and the host's merged-/usr symlinks)."""
    warn = warn or Warn()

    def fill(writer: ImageWriter) -> None:
        writer.put_all(layout.layout_entries(merged_usr_like_host=bool(from_host)))
        if from_host:
            with writer.batch():
                try:
                    fromhost.seed(writer, list(from_host), warn)
                except fromhost.NotFound as exc:
                    raise ToolError(
                        f"{exc.args[0]}: not a program on PATH, a host path, or an installed Debian package"
                    ) from None

    _build(path, fill, warn)


@dataclass(slots=True)
class ImportResult:
    stored: int
    bytes: int
    problems: int


def import_into(
    image_path: str | os.PathLike[str],
    src: str | os.PathLike[str],
    dest: bytes = b"/",
    warn: Warn | None = None,
    show_progress: bool | None = None,
) -> ImportResult:
    """Store a tar archive or a host directory tree under ``dest`` of an existing image. A damaged
    archive raises ToolError after everything before the damage was stored."""
    warn = warn or Warn()
    src_path = Path(src)
    from_stdin = os.fspath(src) == "-"
    if not from_stdin and not src_path.exists():
        raise ToolError(f"{src}: no such file or directory")
    if not dest.startswith(b"/"):
        dest = b"/" + dest
    with _user_errors(image_path), ImageFs.open(image_path) as image:
        real = image.real_dir(dest)  # like tar -C: a symlink to a directory is followed once, here
        if real is None:
            raise ToolError(f"{describe(dest[1:])}: no such directory in the image")
        writer = ImageWriter(image, warn, real)
        failure: str | None = None
        if from_stdin:
            with progress("importing stdin", None, show_progress) as advance:
                try:
                    writer.put_all(read_tar(sys.stdin.buffer, warn, advance))
                except ArchiveError as exc:
                    failure = f"stdin: {exc}; the members before it were stored"
        elif src_path.is_dir():
            with progress(f"importing {src}", None, show_progress) as advance:
                writer.on_bytes = advance
                writer.put_all(read_host_tree(os.fsencode(src_path), warn))
        else:
            total = src_path.stat().st_size
            with progress(f"importing {src_path.name}", total, show_progress) as advance:
                try:
                    writer.put_all(read_tar(src_path, warn, advance))
                except ArchiveError as exc:
                    failure = f"{src}: {exc}; the members before it were stored"
        writer.finish()
        if failure is not None:
            raise ToolError(failure)
        return ImportResult(writer.stored, writer.bytes, warn.problems)


def export_image(
    image_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    warn: Warn | None = None,
    root: bytes = b"/",
    show_progress: bool | None = None,
) -> int:
    """Write the image's tree (from ``root``) as a PAX tar at ``out`` (compressed by its suffix; ``-``
    is stdout, uncompressed); returns the number of entries. ``out`` appears only when complete."""
    warn = warn or Warn()
    if os.fspath(out) == "-":
        with _user_errors(image_path), ImageFs.open(image_path, readonly=True) as image:
            return _write_tar(image, sys.stdout.buffer, "", warn, root, Path(image_path).name, show_progress)
    target = Path(out)
    if not target.parent.is_dir():
        raise ToolError(f"{target.parent}: no such directory")
    tmp = _temp_beside(target)
    with _user_errors(image_path), ImageFs.open(image_path, readonly=True) as image:
        try:
            with open(tmp, "wb") as raw:
                count = _write_tar(
                    image, raw, compression_for(target.name), warn, root, Path(image_path).name, show_progress
                )
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return count


def _write_tar(
    image: ImageFs, raw: Any, compression: str, warn: Warn, root: bytes, label: str, show_progress: bool | None
) -> int:
    real = image.real_dir(root if root.startswith(b"/") else b"/" + root)
    if real is None:
        raise ToolError(f"{describe(root.lstrip(b'/'))}: no such directory in the image")
    stream = compressed_writer(raw, compression)
    writer = TarWriter(stream, warn)
    count = 0
    try:
        with progress(f"exporting {label}", None, show_progress) as advance:
            for entry, regions in read_image(image, real):
                writer.add(entry, regions)
                count += 1
                advance(entry.size)
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        if stream is not raw:
            stream.close()
        else:
            raw.flush()
    return count


def image_info(image_path: str | os.PathLike[str]) -> dict[str, int | str]:
    """Schema version, sizes, counts and geometry of an image."""
    from sqlalchemy import func, select  # the tools' SQL; `lxfs run` never needs SQLAlchemy

    from lxfs.volfs import schema

    with _user_errors(image_path), ImageFs.open(image_path, readonly=True) as image:
        fs = image.volfs
        i = schema.inode
        with fs.engine.connect() as conn:
            meta = dict(conn.execute(select(schema.meta.c.key, schema.meta.c.value)).all())
            kind = i.c.mode.op("&")(0o170000).label("kind")
            counts: dict[int, int] = {k: n for k, n in conn.execute(select(kind, func.count()).group_by(kind)).all()}
            data_bytes = conn.execute(
                select(func.coalesce(func.sum(i.c.size), 0)).where(i.c.mode.op("&")(0o170000) == stat.S_IFREG)
            ).scalar_one()
            stored = conn.execute(select(func.coalesce(func.sum(func.length(schema.chunk.c.data)), 0))).scalar_one()
            chunks = conn.execute(select(func.count()).select_from(schema.chunk)).scalar_one()
            orphans = conn.execute(select(func.count()).select_from(schema.orphan)).scalar_one()
            page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            page_count = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free_pages = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        return {
            "path": os.fspath(image_path),
            "schema version": meta.get("schema_version", "?"),
            "uuid": meta.get("uuid", "?"),
            "file size": os.path.getsize(image_path),
            "page size": page_size,
            "pages": page_count,
            "free pages": free_pages,
            "chunk size": int(meta.get("chunk_size", CHUNK_SIZE)),
            "inodes": sum(counts.values()),
            "directories": counts.get(stat.S_IFDIR, 0),
            "regular files": counts.get(stat.S_IFREG, 0),
            "symlinks": counts.get(stat.S_IFLNK, 0),
            "devices": counts.get(stat.S_IFCHR, 0) + counts.get(stat.S_IFBLK, 0),
            "fifos": counts.get(stat.S_IFIFO, 0),
            "sockets": counts.get(stat.S_IFSOCK, 0),
            "file data (apparent)": data_bytes,
            "file data (stored)": stored,
            "chunks": chunks,
            "orphans": orphans,
        }


# -- the default image ------------------------------------------------------------------------------


def default_image_path() -> Path:
    """$LXFS_HOME/default.lxfs, else $XDG_DATA_HOME/lxfs/default.lxfs (~/.local/share/lxfs/...)."""
    home = os.environ.get("LXFS_HOME")
    if home:
        return Path(home) / "default.lxfs"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "lxfs" / "default.lxfs"


def _busybox_entries(busybox: str) -> Iterator[Entry]:
    applets = layout.busybox_applets(busybox)
    real = os.path.realpath(busybox)
    entry = host_entry(os.fsencode(real), b"bin/busybox")
    entry.xattrs = {}
    entry.uid = entry.gid = 0
    yield entry
    now = entry.mtime_ns
    for applet in applets:
        if applet in (b"linuxrc", b"bin/busybox") or b"/" not in applet:
            continue  # busybox --install skips linuxrc outside an initrd
        yield Entry(path=applet, mode=stat.S_IFLNK | 0o777, mtime_ns=now, atime_ns=now, symlink_target=b"/bin/busybox")


def ensure_default_image(notify: Callable[[str], None] | None = None, busybox: str = layout.BUSYBOX) -> Path:
    """The default image, made on first use from the host's busybox-static (applet symlinks as
    ``busybox --install -s`` makes them, /etc/passwd, /etc/group, /root, /tmp). Safe against two
    processes making it at once. Raises ToolError if busybox-static is missing."""
    path = default_image_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path
        if notify is None:

            def notify(message: str) -> None:
                print(message, file=sys.stderr)

        notify(f"lxfs: creating the default image {path} from the host's {busybox}")
        warn = Warn()

        def fill(writer: ImageWriter) -> None:
            try:
                entries = list(_busybox_entries(busybox))
            except layout.BusyboxMissing as exc:
                raise ToolError(str(exc)) from None
            writer.put_all(layout.layout_entries())
            writer.put_all(entries)
            for etc_path, content in fromhost.MIN_ETC.items():
                writer.put(fromhost.text_file(etc_path[1:], content))

        _build(path, fill, warn)
        if warn.problems:
            raise ToolError(f"{path}: " + "; ".join(warn.messages))
    return path
