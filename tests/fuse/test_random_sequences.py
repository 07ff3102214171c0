"""Property: any sequence of file operations gives the same results (values and errnos) and the same
tree on the mount as on the host's tmpfs."""

from __future__ import annotations

import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxfs.conformance.model import errno_name

from .conftest import Mounted
from .treecmp import snapshot

NAMES = st.sampled_from(["a", "b", "c", "d", "d/e", "d/f", "g/h"])
OPS = st.one_of(
    st.tuples(st.just("write"), NAMES, st.binary(max_size=64), st.integers(0, 300_000)),
    st.tuples(st.just("append"), NAMES, st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("mkdir"), NAMES),
    st.tuples(st.just("rename"), NAMES, NAMES),
    st.tuples(st.just("unlink"), NAMES),
    st.tuples(st.just("rmdir"), NAMES),
    st.tuples(st.just("link"), NAMES, NAMES),
    st.tuples(st.just("symlink"), st.sampled_from(["a", "../a", "d", "nowhere"]), NAMES),
    st.tuples(st.just("truncate"), NAMES, st.integers(0, 300_000)),
    st.tuples(st.just("chmod"), NAMES, st.sampled_from([0o600, 0o755, 0o4755, 0o1777])),
    st.tuples(st.just("read"), NAMES),
    st.tuples(st.just("listdir"), st.sampled_from(["", "d", "g"])),
)
_count = itertools.count()


def apply(root: str, op: tuple) -> object:  # type: ignore[type-arg]
    kind, *args = op
    p = [os.path.join(root, a) if isinstance(a, str) and kind != "symlink" else a for a in args]
    try:
        if kind == "write":
            fd = os.open(p[0], os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                return os.pwrite(fd, args[1], args[2])
            finally:
                os.close(fd)
        if kind == "append":
            fd = os.open(p[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                return os.write(fd, args[1])
            finally:
                os.close(fd)
        if kind == "read":
            fd = os.open(p[0], os.O_RDONLY)
            try:
                return os.read(fd, 1 << 20)
            finally:
                os.close(fd)
        if kind == "listdir":
            return sorted(os.listdir(p[0]))
        if kind == "symlink":
            os.symlink(args[0], os.path.join(root, args[1]))
        elif kind == "link":
            os.link(p[0], p[1], follow_symlinks=False)
        else:
            fn = {"mkdir": os.mkdir, "rename": os.rename, "unlink": os.unlink, "rmdir": os.rmdir,
                  "truncate": os.truncate, "chmod": os.chmod}[kind]  # fmt: skip
            fn(*p)
        return "ok"
    except OSError as exc:
        return errno_name(exc.errno)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, max_size=14))
def test_operation_sequences_match_host_tmpfs(mounted: Mounted, host_dir: str, seq: list) -> None:  # type: ignore[type-arg]
    n = next(_count)
    roots = [os.path.join(base, f"seq{n}") for base in (mounted.path, host_dir)]
    for r in roots:
        os.mkdir(r)
    results = [[apply(r, op) for op in seq] for r in roots]
    assert results[0] == results[1]
    assert snapshot(roots[0], xattrs=False, times=False) == snapshot(roots[1], xattrs=False, times=False)
