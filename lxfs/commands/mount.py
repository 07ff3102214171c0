"""CLI: `lxfs mount`, `lxfs umount` (the FUSE adapter) and `lxfs conformance` (the POSIX suite)."""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lxfs.idmap import IdMapping


def conformance(
    path: Annotated[str, typer.Argument(help="Directory to test in (a scratch directory is made inside).")],
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Run only this group (repeatable).")] = None,
    as_user: Annotated[str | None, typer.Option("--as-user", help="UID:GID to run the checks as.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every check as JSON.")] = False,
) -> None:
    """Run the POSIX filesystem conformance suite against PATH (any directory: tmpfs, a FUSE mount...)."""
    from lxfs.conformance import GROUPS, Identity, run_suite

    err = Console(stderr=True)
    if not os.path.isdir(path):
        err.print(f"lxfs conformance: {path}: not a directory")
        raise typer.Exit(2)
    try:
        who = Identity.parse(as_user) if as_user else None
    except ValueError as exc:
        err.print(f"lxfs conformance: --as-user: {exc}")
        raise typer.Exit(2) from None
    if who is not None and os.geteuid() != 0:
        err.print("lxfs conformance: --as-user needs root (it uses setresuid)")
        raise typer.Exit(2)
    try:
        report = run_suite(path, group, who)
    except ValueError as exc:
        err.print(f"lxfs conformance: {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"lxfs conformance: {path}: {exc.strerror}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"checks": [c.as_dict() for c in report.checks], "errors": report.errors}, indent=1))
    else:
        out = Console()
        table = Table(title=f"conformance of {path}")
        for col in ("group", "passed", "failed", "skipped"):
            table.add_column(col, justify="left" if col == "group" else "right")
        counts = report.by_group()
        for name in GROUPS:
            if name in counts:
                passed, failed, skipped = counts[name]
                table.add_row(name, str(passed), f"[red]{failed}[/red]" if failed else "0", str(skipped))
        out.print(table)
        for c in report.checks:
            if not c.passed and not c.skipped:
                out.print(
                    f"[red]FAIL[/red] {c.group}/{c.name}: expected {c.expected!r}, observed {c.observed!r}",
                    markup=True,
                    highlight=False,
                )
        for e in report.errors:
            out.print(f"[red]ERROR[/red] {e}", highlight=False)
        total = sum(p for p, _, _ in counts.values())
        failed = sum(f for _, f, _ in counts.values())
        out.print(f"{total} passed, {failed} failed" + (f", {len(report.errors)} errors" if report.errors else ""))
    raise typer.Exit(0 if report.ok else 1)


def mount(
    image: Annotated[str, typer.Argument(help="The VolFs image to show.")],
    mountpoint: Annotated[str, typer.Argument(help="An empty directory.")],
    options: Annotated[
        list[str] | None, typer.Option("-o", help="Mount options: ro, rw, poll_us=N (comma-separated).")
    ] = None,
    foreground: Annotated[bool, typer.Option("--foreground", "-f", help="Stay in the foreground.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="libfuse's request log on stderr (implies -f).")] = False,
    uid_map: Annotated[
        list[str] | None,
        typer.Option(
            "--uid-map",
            metavar="GUEST:HOST:COUNT",
            help="Guest uids GUEST.. are host uids HOST.. (repeatable; as a user namespace's uid_map). Ids"
            " outside the map show as 65534 and cannot be chowned to; a host user outside it creates nothing.",
        ),
    ] = None,
    gid_map: Annotated[
        list[str] | None,
        typer.Option("--gid-map", metavar="GUEST:HOST:COUNT", help="The same for group ids."),
    ] = None,
    as_guest: Annotated[
        str | None,
        typer.Option(
            "--as-guest",
            metavar="UID[:GID]",
            help="Be this guest user: its files are yours and what you create is its (--uid-map UID:you:1"
            " --gid-map GID:your group:1; GID defaults to UID).",
        ),
    ] = None,
    log_file: Annotated[
        str | None,
        typer.Option(
            "--log",
            metavar="FILE",
            help="Append the server's messages to FILE: when it started and stopped, and every request that"
            " failed with EIO and why (a corrupt or locked image). Without it a background server has no output.",
        ),
    ] = None,
) -> None:
    """Show IMAGE's tree (with /proc) on the host at MOUNTPOINT through FUSE; returns once it is mounted."""
    from lxfs.fuse import MountError, MountOptions
    from lxfs.fuse_mount import allow_other_permitted, serve_image

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    opts = MountOptions(fsname="lxfs:" + os.path.abspath(image), debug=debug, allow_other=allow_other_permitted())
    try:
        opts.ids = _id_mapping(uid_map, gid_map, as_guest)
    except ValueError as exc:
        err.print(f"lxfs mount: {exc}")
        raise typer.Exit(2) from None
    for opt in ",".join(options or []).split(","):
        if opt in ("", "rw"):
            continue
        if opt == "ro":
            opts.readonly = True
        elif opt.startswith("poll_us=") and opt[8:].isdigit():
            opts.poll_us = int(opt[8:])
        else:
            err.print(f"lxfs mount: unknown option {opt!r} (known: ro, rw, poll_us=N)")
            raise typer.Exit(2)
    log = None
    if log_file is not None:
        try:
            log = _open_log(log_file)
        except OSError as exc:
            err.print(f"lxfs mount: --log {log_file}: cannot open it ({exc.strerror})")
            raise typer.Exit(2) from None
    with log if log is not None else contextlib.nullcontext():
        if foreground or debug:
            try:
                serve_image(image, mountpoint, opts)
            except MountError as exc:
                err.print(f"lxfs mount: {exc}")
                raise typer.Exit(1) from None
            return
        raise typer.Exit(_mount_in_background(image, mountpoint, opts, log))


def _open_log(path: str) -> TextIO:
    """``path`` opened for appending, and the lxfs loggers writing there (a line each, with the time)."""
    import logging

    f = open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 (the caller's)
    handler = logging.StreamHandler(f)
    handler.setFormatter(logging.Formatter("%(asctime)s lxfs mount[%(process)d] %(levelname)s: %(message)s"))
    logger = logging.getLogger("lxfs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return f


def _id_mapping(uid_map: list[str] | None, gid_map: list[str] | None, as_guest: str | None) -> IdMapping | None:
    """The mapping the options ask for (None: guest ids unchanged). Raises ValueError with a message."""
    from lxfs.idmap import IdMap, IdMapping

    if as_guest is not None:
        if uid_map or gid_map:
            raise ValueError("--as-guest is a uid and gid map of its own: give it or --uid-map/--gid-map")
        uid, _, gid = as_guest.partition(":")
        if not uid.isdigit() or not (gid.isdigit() or (gid == "" and ":" not in as_guest)):
            raise ValueError(f"--as-guest {as_guest!r}: expected UID or UID:GID (guest ids), e.g. 0 or 1000:1000")
        uid_map, gid_map = [f"{uid}:{os.geteuid()}:1"], [f"{gid or uid}:{os.getegid()}:1"]
    if not uid_map and not gid_map:
        return None
    try:
        uids = IdMap.parse(uid_map) if uid_map else IdMap.identity()
    except ValueError as exc:
        raise ValueError(f"--uid-map {exc}") from None
    try:
        gids = IdMap.parse(gid_map) if gid_map else IdMap.identity()
    except ValueError as exc:
        raise ValueError(f"--gid-map {exc}") from None
    return IdMapping(uids, gids)


def _mount_in_background(image: str, mountpoint: str, opts: object, log: TextIO | None) -> int:
    """Fork a server that detaches once the mount is attached; report its first error, if any. From
    then on its output (libfuse's messages, a traceback) goes to ``log``, or nowhere."""
    import logging

    from lxfs.fuse import MountError, MountOptions
    from lxfs.fuse_mount import serve_image

    assert isinstance(opts, MountOptions)
    image = os.path.abspath(image)  # the server leaves the caller's directory (below)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.setsid()
        status = 0
        to_parent = [wfd]  # emptied once the parent has its answer: the fd number may be reused then

        def ready() -> None:
            os.write(wfd, b"ok")
            os.close(to_parent.pop())
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            for fd in (1, 2):
                os.dup2(null if log is None else log.fileno(), fd)
            os.close(null)
            os.chdir("/")  # as daemons do: the server must not keep the caller's file system busy

        try:
            serve_image(image, mountpoint, opts, ready)
        except BaseException as exc:  # the parent prints it (before ready), the log has it (after)
            failed = isinstance(exc, MountError)
            text = f"lxfs mount: {exc}" if failed else f"lxfs mount: server failed: {type(exc).__name__}: {exc}"
            if log is not None:  # without one, stderr is the caller's terminal (said below) or /dev/null
                logging.getLogger("lxfs").error("%s", text, exc_info=not failed)
            if to_parent:
                with contextlib.suppress(OSError):
                    os.write(wfd, text.encode())
            status = 1
        os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as inp:
        answer = inp.read()
    if answer == b"ok":
        return 0
    os.waitpid(pid, 0)
    Console(stderr=True, highlight=False).print(answer.decode(errors="replace") or "lxfs mount: the server died")
    return 1


def umount(mountpoint: Annotated[str, typer.Argument(help="Where an lxfs image is mounted.")]) -> None:
    """Unmount MOUNTPOINT (also a stale one whose server died) and wait for the server to finish."""
    from lxfs.fuse import MountError
    from lxfs.fuse_mount import umount_and_wait

    try:
        umount_and_wait(mountpoint)
    except MountError as exc:
        Console(stderr=True, highlight=False).print(f"lxfs umount: {exc}")
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    app.command("mount")(mount)
    app.command("umount")(umount)
    app.command("conformance")(conformance)
