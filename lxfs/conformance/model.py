"""Checks and the Tester that records them: an observation is "ok", a value, or an errno name."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

OK = "ok"
SKIPPED = "skipped"


def normalise(value: object) -> object:
    """A JSON-comparable form: tuples become lists, bytes become text (lossless, surrogateescape)."""
    if isinstance(value, tuple | list):
        return [normalise(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, set | frozenset):
        return sorted(normalise(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    return value


def errno_name(err: int | None) -> str:
    return errno.errorcode.get(err or 0, f"errno {err}")


@dataclass(slots=True)
class Check:
    group: str
    name: str
    expected: Any
    observed: Any

    @property
    def skipped(self) -> bool:
        return self.observed == SKIPPED

    @property
    def passed(self) -> bool:
        return self.observed == self.expected

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"passed": self.passed}


class Tester:
    """Runs the checks of one group inside its own scratch directory ``dir`` (bytes)."""

    __test__ = False  # not a pytest class

    def __init__(self, group: str, directory: bytes, root: bool) -> None:
        self.group = group
        self.dir = directory
        self.root = root  # may create fixtures owned by other users (chown)
        self.checks: list[Check] = []

    def p(self, *names: str | bytes) -> bytes:
        return os.path.join(self.dir, *(os.fsencode(n) for n in names))

    def observe(self, fn: Callable[[], object]) -> object:
        """Run ``fn``: its value ("ok" for None), or the errno name of the OSError it raised."""
        try:
            value = fn()
        except OSError as exc:
            return errno_name(exc.errno)
        except Exception as exc:  # a check must report, never abort the group
            return f"{type(exc).__name__}: {exc}"
        return OK if value is None else normalise(value)

    def expect(self, name: str, expected: object, fn: Callable[[], object]) -> object:
        observed = self.observe(fn)
        self.checks.append(Check(self.group, name, normalise(expected), observed))
        return observed

    def skip(self, name: str, expected: object) -> None:
        self.checks.append(Check(self.group, name, normalise(expected), SKIPPED))


def write_file(path: bytes, data: bytes = b"", mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path: bytes) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def perm(path: bytes, follow: bool = True) -> int:
    """Permission bits including suid/sgid/sticky."""
    return (os.stat(path) if follow else os.lstat(path)).st_mode & 0o7777


@dataclass(slots=True, frozen=True)
class Identity:
    """Who runs checks: uid, gid and supplementary groups (set with setgroups/setresgid/setresuid)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Identity:
        """``UID:GID`` (numbers); ValueError otherwise."""
        uid, sep, gid = text.partition(":")
        if not sep or not uid.isdigit() or not gid.isdigit():
            raise ValueError(f"expected UID:GID, got {text!r}")
        return cls(int(uid), int(gid))

    def become(self) -> None:
        os.setgroups(list(self.groups))
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)


def in_child(who: Identity, fn: Callable[[], list[Check]]) -> list[Check]:
    """Run ``fn`` in a forked child as ``who``; its checks come back through a pipe as JSON."""
    import json

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's stack
        status = 0
        try:
            os.close(rfd)
            who.become()
            payload = json.dumps([[c.group, c.name, c.expected, c.observed] for c in fn()]).encode()
            with os.fdopen(wfd, "wb") as out:
                out.write(payload)
        except BaseException as exc:  # report to the parent through the exit status and stderr
            os.write(2, f"conformance child failed: {type(exc).__name__}: {exc}\n".encode())
            status = 1
        os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError(f"conformance child as {who.uid}:{who.gid} failed (status {status})")
    return [Check(g, n, e, o) for g, n, e, o in json.loads(data)]
