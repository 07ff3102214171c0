"""Property-based differential test: random operation sequences through the VFS on VolFs and on a host
directory give the same results (errno by errno) and the same trees; fsck stays clean."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxfs.vfs.namespace import Namespace
from lxfs.volfs import fsck
from lxfs.volfs.volfs import VolFs

from .workload import first_difference, host_tree, random_step, run_host, run_vfs, vfs_tree


def _compare(steps_seed: int, count: int, workdir: Path) -> None:
    rng = random.Random(steps_seed)
    steps = [random_step(rng) for _ in range(count)]
    host = tempfile.mkdtemp(dir=workdir)
    image = Path(tempfile.mkdtemp(dir=workdir)) / "image.lxfs"
    fs = VolFs.create(image)
    try:
        ns = Namespace(fs)
        for i, step in enumerate(steps):
            want = run_host(os.fsencode(host), step)
            got = run_vfs(ns, step)
            assert got == want, f"step {i} {step!r}: host errno {want}, VolFs {got}"
        diff = first_difference(host_tree(os.fsencode(host)), vfs_tree(ns))
        assert diff is None, diff
        assert fsck.check(fs) == []
    finally:
        fs.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 60))
def test_random_operations_match_host(tmp_path: Path, seed: int, count: int) -> None:
    _compare(seed, count, tmp_path)
