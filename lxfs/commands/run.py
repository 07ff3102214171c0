"""The emulator commands: ``run`` (a program inside an image; the default image without one) and
``syscalls`` (the syscall table with support levels). ``shell`` is registered by devfs's shell module
when present (it builds on ``open_system`` below)."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from emulator.kernel import Kernel

DEFAULT_ENV = (b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", b"HOME=/root")


class RunError(Exception):
    """A failure to report as ``lxfs run: ...`` with an exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _parse_user(spec: str | None) -> tuple[int, int]:
    if not spec:
        return 0, 0
    uid_s, _, gid_s = spec.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if gid_s else uid
    except ValueError:
        raise RunError(f"--user {spec}: expected numeric UID:GID", 2) from None
    if not (0 <= uid < 1 << 32 and 0 <= gid < 1 << 32):
        raise RunError(f"--user {spec}: ids out of range", 2)
    return uid, gid


@contextlib.contextmanager
def open_system(image: Path | None, *, strace: Any = None, uid: int = 0, gid: int = 0) -> Iterator[Kernel]:
    """A kernel over ``image`` (the default image when None) with /dev and /proc; the image is closed
    afterwards. Errors a user can cause raise RunError."""
    from emulator.syscalls.fs_setup import make_system
    from lxfs.volfs.layout import ImageError
    from lxfs.volfs.volfs import VolFs

    if image is None:
        from lxfs.images import ToolError, ensure_default_image

        try:
            image = ensure_default_image()
        except ToolError as exc:
            raise RunError(str(exc), 1) from None
    try:
        fs = VolFs.open(image)
    except ImageError as exc:
        raise RunError(str(exc), 1) from None
    try:
        yield make_system(fs, strace=strace, uid=uid, gid=gid)
    finally:
        fs.close()


def run_program(
    image: Path | None,
    argv: list[str],
    *,
    strace: bool = False,
    user: str | None = None,
    cwd: str | None = None,
    env: list[str] | None = None,
    mount: str | None = None,
) -> int:
    """``lxfs run``: the exit status of the guest (128+N when killed by signal N). With ``mount``, the
    running system's namespace (its /, /proc, /dev) is served on that host directory meanwhile."""
    from emulator.loader import ExecError
    from emulator.syscalls.fs_setup import spawn_init
    from lxfs.vfs.errors import FsError

    if not argv:
        raise RunError("no program given (lxfs run [IMAGE] -- PROGRAM ARGS...)", 2)
    uid, gid = _parse_user(user)
    envp = list(DEFAULT_ENV)
    term = os.environ.get("TERM")
    if term:
        envp.append(b"TERM=" + os.fsencode(term))
    for item in env or []:
        if "=" not in item:
            raise RunError(f"--env {item}: expected K=V", 2)
        key = os.fsencode(item.split("=", 1)[0]) + b"="
        envp = [e for e in envp if not e.startswith(key)]
        envp.append(os.fsencode(item))
    args = [os.fsencode(a) for a in argv]
    with open_system(image, strace=sys.stderr if strace else None, uid=uid, gid=gid) as kernel:
        if cwd:
            side = kernel.files  # type: ignore[attr-defined]
            try:
                side.ns.chdir(side.init_ctx, os.fsencode(cwd))
            except FsError as exc:
                raise RunError(f"--cwd {cwd}: {exc.strerror}", 1) from None
        try:
            spawn_init(kernel, args, envp, uid=uid, gid=gid)
        except ExecError as exc:
            raise RunError(f"{argv[0]}: {exc.strerror}", 126) from None
        except FsError as exc:
            status = 127 if exc.errno == 2 else 126
            raise RunError(f"{argv[0]}: {exc.strerror}", status) from None
        sys.stdout.flush()
        with _served(kernel, mount):
            status = kernel.run()
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


@contextlib.contextmanager
def _served(kernel: Kernel, mountpoint: str | None) -> Iterator[None]:
    """``lxfs run --mount``: FUSE requests on a host thread under the kernel lock (DESIGN.md "FUSE");
    each request's end wakes a scheduler idling in select, since it may have made a task runnable (a
    write into a FIFO a guest waits on)."""
    if mountpoint is None:
        yield
        return
    import selectors

    try:
        from lxfs.fuse import MountError, MountOptions, serve_in_thread
    except OSError as exc:  # mfusepy cannot load libfuse3
        raise RunError(f"--mount: FUSE is not available here ({exc}); apt-get install fuse3", 1) from None

    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(rfd, 4096)

    def poke() -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(wfd, b"\0")

    try:
        server = serve_in_thread(kernel.namespace, mountpoint, kernel.lock, MountOptions(fsname="lxfs-run"))
    except MountError as exc:
        os.close(rfd)
        os.close(wfd)
        raise RunError(f"--mount {exc}", 1) from None
    kernel.lock.on_release = poke
    kernel.watch_fd(rfd, selectors.EVENT_READ, drain)
    try:
        yield
    finally:
        kernel.unwatch_fd(rfd)
        try:
            server.stop()
        except MountError as exc:
            print(f"lxfs run: --mount: {exc}", file=sys.stderr)
        finally:
            kernel.lock.on_release = None
            os.close(rfd)
            os.close(wfd)


# syscalls whose implementation is deliberately partial (shown by `lxfs syscalls`)
PARTIAL = {
    "fcntl": "no leases, seals or F_SETSIG delivery",
    "ioctl": "per device; generic FIONBIO/FIOCLEX/FIONREAD",
    "fallocate": "modes 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE",
    "flock": "no deadlock detection",
    "socket": "AF_UNIX only",
    "socketpair": "AF_UNIX only",
    "openat2": "RESOLVE_* flags accepted, not enforced",
}


def syscall_rows() -> list[tuple[int, str, str, str]]:
    """(number, name, level, note) for every syscall number of x86-64 Linux."""
    from emulator.syscalls import table

    entries = table.load()
    rows = []
    for nr, name in sorted(table.NAMES.items()):
        entry = entries[nr]
        if entry is None:
            rows.append((nr, name, "ENOSYS", ""))
        elif name in PARTIAL:
            rows.append((nr, name, "partial", PARTIAL[name]))
        else:
            rows.append((nr, name, "yes", ""))
    return rows


def register(app: typer.Typer) -> None:
    @app.command(
        "run",
        help="Run a Linux x86-64 program inside an image (the default busybox image without IMAGE): "
        "lxfs run [IMAGE] [OPTIONS] -- PROGRAM ARGS...",
    )
    def run_cmd(
        args: Annotated[list[str], typer.Argument(help="[IMAGE] -- PROGRAM ARGS...")],
        strace: Annotated[bool, typer.Option("--strace", help="Print every syscall to stderr.")] = False,
        user: Annotated[str | None, typer.Option("--user", help="Run as UID:GID.")] = None,
        cwd: Annotated[str | None, typer.Option("--cwd", help="Working directory inside the image.")] = None,
        env: Annotated[list[str] | None, typer.Option("--env", help="K=V for the environment.")] = None,
        mount: Annotated[
            str | None,
            typer.Option("--mount", help="Serve the running system's / (with /proc, /dev) on this host directory."),
        ] = None,
    ) -> None:
        image: Path | None = None
        argv = list(args)
        # typer drops the "--"; an IMAGE is a first argument that is an existing host file and not
        # followed directly by the program (`lxfs run -- sh` has no image)
        raw = sys.argv[1:]
        dashdash = raw.index("--") if "--" in raw else -1
        if dashdash >= 0:
            before = [a for a in raw[:dashdash] if a != "run"]
            positional = _positionals(before)
            if positional:
                image = Path(positional[0])
                if argv and argv[0] == positional[0]:
                    argv = argv[1:]
        elif argv and os.path.isfile(argv[0]) and len(argv) > 1 and _looks_like_image(argv[0]):
            image = Path(argv[0])
            argv = argv[1:]
        try:
            status = run_program(image, argv, strace=strace, user=user, cwd=cwd, env=env, mount=mount)
        except RunError as exc:
            print(f"lxfs run: {exc}", file=sys.stderr)
            raise typer.Exit(exc.status) from None
        raise typer.Exit(status)

    @app.command("syscalls", help="The syscall table of the emulator with support levels.")
    def syscalls_cmd() -> None:
        rows = syscall_rows()
        for nr, name, level, note in rows:
            print(f"{nr:4d}  {name:<24} {level:<8} {note}".rstrip())
        done = sum(1 for r in rows if r[2] != "ENOSYS")
        print(f"{done} of {len(rows)} implemented")

    try:
        shell = importlib.import_module("devfs.shell")
    except ModuleNotFoundError:
        return
    if hasattr(shell, "register"):
        shell.register(app)


_OPTS_WITH_VALUE = ("--user", "--cwd", "--env", "--mount")


def _positionals(args: list[str]) -> list[str]:
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in _OPTS_WITH_VALUE:
            skip = True
            continue
        if a.startswith("-"):
            continue
        out.append(a)
    return out


def _looks_like_image(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\0"
    except OSError:
        return False
