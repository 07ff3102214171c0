"""Run the groups in a scratch directory under PATH, optionally as another user, and report."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from lxfs.conformance.groups import (
    fallocate,
    hardlinks,
    largefile,
    namespace,
    open_flags,
    open_unlinked,
    permissions,
    readdir,
    rename,
    symlinks,
    timestamps,
    truncate,
    xattrs,
)
from lxfs.conformance.model import Check, Identity, Tester, in_child

_MODULES: tuple[ModuleType, ...] = (
    open_flags,
    namespace,
    rename,
    symlinks,
    permissions,
    timestamps,
    hardlinks,
    open_unlinked,
    truncate,
    fallocate,
    xattrs,
    readdir,
    largefile,
)
GROUPS: dict[str, Callable[..., None]] = {m.__name__.rsplit(".", 1)[1]: m.run for m in _MODULES}


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a group that could not run at all

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.passed or c.skipped for c in self.checks)

    def by_group(self) -> dict[str, tuple[int, int, int]]:
        """group -> (passed, failed, skipped)"""
        out: dict[str, list[int]] = {}
        for c in self.checks:
            row = out.setdefault(c.group, [0, 0, 0])
            row[2 if c.skipped else 0 if c.passed else 1] += 1
        return {g: (r[0], r[1], r[2]) for g, r in out.items()}


def _run_group(name: str, scratch: bytes, root: bool, who: Identity | None) -> list[Check]:
    directory = os.path.join(scratch, name.encode())
    os.mkdir(directory, 0o755)
    t = Tester(name, directory, root)
    if name == "permissions":
        GROUPS[name](t, who)
    else:
        GROUPS[name](t)
    return t.checks


def run_suite(path: str | bytes, groups: list[str] | None = None, as_user: Identity | None = None) -> Report:
    """Run ``groups`` (all by default) in a fresh directory under ``path``; the directory is removed after.

    With ``as_user`` every group but "permissions" runs in a child with that identity; "permissions"
    always makes its fixtures as root (when we are root) and checks as ``as_user`` (default 65534:65534).
    """
    names = groups or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group(s) {', '.join(unknown)}; groups are: {', '.join(GROUPS)}")
    root = os.geteuid() == 0
    old_umask = os.umask(0o022)
    scratch = os.path.join(os.fsencode(path), b"lxfs-conformance.%d" % os.getpid())
    report = Report()
    try:
        os.mkdir(scratch, 0o755)
        os.chmod(scratch, 0o755)
        if as_user is not None:
            os.chown(scratch, as_user.uid, as_user.gid)
        for name in names:
            try:
                if as_user is not None and name != "permissions":
                    report.checks.extend(in_child(as_user, lambda n=name: _run_group(n, scratch, False, None)))  # type: ignore[misc]
                else:
                    report.checks.extend(_run_group(name, scratch, root, as_user))
            except (OSError, RuntimeError) as exc:
                report.errors.append(f"{name}: could not run: {exc}")
    finally:
        os.umask(old_umask)
        shutil.rmtree(scratch, onerror=lambda _fn, p, exc: report.errors.append(f"cleanup of {p!r}: {exc[1]}"))
    return report
