"""The suite's expectations are Linux's: on the host's tmpfs every check must pass."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from lxfs.commands import mount
from lxfs.conformance import GROUPS, Identity, Tester, run_suite

ROOT = os.geteuid() == 0


@pytest.fixture
def host_dir() -> Iterator[str]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as d:
        os.chmod(d, 0o755)
        yield d


def _failures(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        f"{c.group}/{c.name}: expected {c.expected!r}, observed {c.observed!r}"
        for c in report.checks
        if not c.passed and not c.skipped
    ] + report.errors


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_check_passes_on_host_tmpfs(host_dir: str, group: str) -> None:
    report = run_suite(host_dir, [group])
    assert report.checks, "a group must check something"
    assert _failures(report) == []
    assert os.listdir(host_dir) == [], "the scratch directory is removed"


@pytest.mark.skipif(not ROOT, reason="needs root to switch users")
def test_every_check_passes_on_host_tmpfs_as_non_root_user(host_dir: str) -> None:
    report = run_suite(host_dir, None, Identity(65534, 65534))
    assert _failures(report) == []
    assert not any(c.skipped for c in report.checks)


def test_a_wrong_expectation_is_reported_as_a_failure(host_dir: str) -> None:
    t = Tester("demo", host_dir.encode(), ROOT)
    t.expect("missing_file_is_ENOENT", "ENOENT", lambda: os.stat(os.path.join(host_dir, "none")))
    t.expect("deliberately_wrong", "EEXIST", lambda: os.stat(os.path.join(host_dir, "none")))
    t.expect("value_mismatch", 1, lambda: 2)
    assert [c.passed for c in t.checks] == [True, False, False]
    assert t.checks[1].observed == "ENOENT"


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # two commands, so typer keeps subcommand names
    mount.register(app)
    return app


def test_cli_prints_summary_and_json(host_dir: str) -> None:
    runner = CliRunner()
    res = runner.invoke(_cli(), ["conformance", host_dir, "--group", "rename"])
    assert res.exit_code == 0, res.output
    assert "rename" in res.output and "0 failed" in res.output
    res = runner.invoke(_cli(), ["conformance", host_dir, "-g", "xattrs", "--json"])
    data = json.loads(res.output)
    assert data["errors"] == [] and all(c["passed"] for c in data["checks"])


def test_cli_user_errors_are_one_line(host_dir: str) -> None:
    runner = CliRunner()
    res = runner.invoke(_cli(), ["conformance", host_dir, "-g", "nosuch"])
    assert res.exit_code == 2 and "unknown group" in res.output and "Traceback" not in res.output
    res = runner.invoke(_cli(), ["conformance", host_dir, "--as-user", "nobody"])
    assert res.exit_code == 2 and "UID:GID" in res.output
