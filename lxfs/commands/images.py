"""The image commands: init, import, export, fsck, info. Errors a user can cause print one line
(``lxfs: error: ...``) and exit non-zero, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from lxfs.images import Warn

T = TypeVar("T")


def _warn_line(message: str) -> None:
    print(f"lxfs: {message}", file=sys.stderr)


def _fail(message: str) -> typer.Exit:
    print(f"lxfs: error: {message}", file=sys.stderr)
    return typer.Exit(1)


def _run(action: Callable[[], T]) -> T:
    from lxfs.images import ToolError
    from lxfs.volfs.layout import ImageError

    try:
        return action()
    except (ToolError, ImageError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # a host file: the archive, the output, a directory to import
        where = f"{exc.filename}: " if exc.filename else ""
        raise _fail(f"{where}{exc.strerror or exc}") from None


def _warner() -> Warn:
    from lxfs.images import Warn  # imported when a command runs: `lxfs --help` stays fast

    return Warn(_warn_line)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init_cmd(
        image: Annotated[Path, typer.Argument(help="The image file to create (never overwritten).")],
        names: Annotated[
            list[str] | None,
            typer.Argument(
                help="With --from-host: programs (on PATH; with their Debian package's files), host paths "
                "(just that file) or Debian packages."
            ),
        ] = None,
        from_host: Annotated[
            bool,
            typer.Option(
                "--from-host",
                help="Copy the named programs or installed packages from the host, with the shared libraries "
                "they need and a minimal /etc.",
            ),
        ] = False,
    ) -> None:
        """Create an image with the standard directories (optionally seeded from the host)."""
        if names and not from_host:
            raise _fail("program or package names need --from-host")
        if from_host and not names:
            raise _fail("--from-host needs at least one program or package name")
        warn = _warner()
        from lxfs.images import init_image

        _run(lambda: init_image(image, names or [], warn))

    @app.command("import")
    def import_cmd(
        image: Annotated[Path, typer.Argument(help="An existing image.")],
        src: Annotated[
            Path, typer.Argument(help="A tar archive (plain, gz, bz2, xz, zst; - for stdin) or a host directory.")
        ],
        path: Annotated[str, typer.Option("--path", help="The image directory to import into.")] = "/",
    ) -> None:
        """Import a tar archive or a host directory tree into an image (modes, owners, ns times, links,
        devices, xattrs). Exit status 1 if any member was refused or not stored."""
        warn = _warner()
        from lxfs.images import import_into

        result = _run(lambda: import_into(image, src, path.encode("utf-8", "surrogateescape"), warn))
        if sys.stderr.isatty():
            print(f"lxfs: imported {result.stored} entries, {_human(result.bytes)} of data", file=sys.stderr)
        if result.problems:
            raise _fail(f"{result.problems} member(s) not stored (see above)")

    @app.command("export")
    def export_cmd(
        image: Annotated[Path, typer.Argument(help="An image.")],
        out: Annotated[
            Path, typer.Argument(help="The tar to write: OUT.tar, .tar.gz, .tar.bz2, .tar.xz, .tar.zst (- for stdout).")
        ],
        path: Annotated[str, typer.Option("--path", help="The image directory to export.")] = "/",
    ) -> None:
        """Export an image (or one directory of it) as a PAX tar that imports back identically."""
        warn = _warner()
        from lxfs.images import export_image

        _run(lambda: export_image(image, out, warn, path.encode("utf-8", "surrogateescape")))
        if warn.problems:
            raise _fail(f"{warn.problems} file(s) not exported (see above)")

    @app.command("fsck")
    def fsck_cmd(
        image: Annotated[Path, typer.Argument(help="An image.")],
        repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed.")] = False,
    ) -> None:
        """Check an image's invariants; exit 0 when clean, 1 when problems were found (or repaired)."""
        from lxfs.volfs import fsck

        found = _run(lambda: (fsck.repair if repair else fsck.check)(image))
        if not found:
            print(f"{image}: clean")
            return
        for problem in found:
            print(f"{image}: {problem}")
        if repair:
            left = _run(lambda: fsck.check(image))
            for problem in left:
                print(f"{image}: not repaired: {problem}")
            print(f"{image}: {len(found)} problem(s) found, {len(found) - len(left)} repaired")
        else:
            print(f"{image}: {len(found)} problem(s) found (run with --repair to fix)")
        raise typer.Exit(1)

    @app.command("info")
    def info_cmd(image: Annotated[Path, typer.Argument(help="An image.")]) -> None:
        """Show an image's schema version, sizes, counts, chunk and page size, orphans."""
        from lxfs.images import image_info

        info = _run(lambda: image_info(image))
        width = max(len(k) for k in info)
        for key, value in info.items():
            shown = str(value)
            if isinstance(value, int) and (key.startswith("file") or key.endswith("size")):
                shown = f"{value} ({_human(value)})"
            print(f"{key + ':':<{width + 1}} {shown}")
