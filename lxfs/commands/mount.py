"""CLI: `lxfs mount`, `lxfs umount` (the FUSE adapter) and `lxfs conformance` (the POSIX suite)."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


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


def register(app: typer.Typer) -> None:
    app.command("conformance")(conformance)
