"""The conformance suite on an lxfs mount gives exactly what it gives on the host's tmpfs."""

from __future__ import annotations

import pytest

from lxfs.conformance import GROUPS, Identity, run_suite

from .conftest import Mounted


def _observed(report) -> list[tuple[str, str, object]]:  # type: ignore[no-untyped-def]
    assert report.errors == []
    return [(c.group, c.name, c.observed) for c in report.checks]


def _first_difference(host: list, lxfs: list) -> str:  # type: ignore[type-arg]
    for h, m in zip(host, lxfs, strict=False):
        if h != m:
            return f"{h[0]}/{h[1]}: host tmpfs {h[2]!r}, lxfs mount {m[2]!r}"
    return f"different numbers of checks: {len(host)} vs {len(lxfs)}"


@pytest.mark.parametrize("group", list(GROUPS))
def test_group_matches_host_tmpfs(mounted: Mounted, host_dir: str, group: str) -> None:
    host = _observed(run_suite(host_dir, [group]))
    on_mount = _observed(run_suite(mounted.path, [group]))
    assert host == on_mount, _first_difference(host, on_mount)


def test_suite_as_non_root_user_matches_host_tmpfs(mounted: Mounted, host_dir: str) -> None:
    who = Identity(65534, 65534)
    host = _observed(run_suite(host_dir, None, who))
    on_mount = _observed(run_suite(mounted.path, None, who))
    assert host == on_mount, _first_difference(host, on_mount)
