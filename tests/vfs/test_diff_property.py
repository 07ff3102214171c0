"""Property-based differential test: random sequences of namespace operations on the host and on lxfs
give the same results, errnos and final trees (names, types, modes, link counts, sizes, contents)."""

from __future__ import annotations

import os
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxfs.vfs.interfaces import RENAME_EXCHANGE, RENAME_NOREPLACE

NAMES = ["a", "b", "c", "a/x", "a/y", "b/x", "a/x/z", "a/", "b/x/"]
name = st.sampled_from(NAMES)
op = st.one_of(
    st.tuples(st.just("mkdir"), name, st.sampled_from([0o755, 0o700, 0o1777])),
    st.tuples(st.just("create"), name, st.binary(max_size=300)),
    st.tuples(st.just("append"), name, st.binary(min_size=1, max_size=50)),
    st.tuples(st.just("unlink"), name),
    st.tuples(st.just("rmdir"), name),
    st.tuples(st.just("rename"), name, name, st.sampled_from([0, RENAME_NOREPLACE, RENAME_EXCHANGE])),
    st.tuples(st.just("link"), name, name),
    st.tuples(st.just("symlink"), st.sampled_from(["a", "../b", "x", "a/x"]), name),
    st.tuples(st.just("truncate"), name, st.integers(0, 70_000)),
    st.tuples(st.just("chmod"), name, st.sampled_from([0o644, 0o4755, 0o600])),
)


def _apply(s, step) -> None:
    kind, *args = step
    if kind == "mkdir":
        s.mkdir(args[0], args[1])
    elif kind in ("create", "append"):
        flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if kind == "create" else os.O_APPEND)
        fd = s.open(args[0], flags, 0o644)
        s.write(fd, args[1])
        s.close(fd)
    elif kind == "unlink":
        s.unlink(args[0])
    elif kind == "rmdir":
        s.rmdir(args[0])
    elif kind == "rename":
        s.rename(args[0], args[1], args[2])
    elif kind == "link":
        s.link(args[0], args[1])
    elif kind == "symlink":
        s.symlink(args[0], args[1])
    elif kind == "truncate":
        s.truncate(args[0], args[1])
    elif kind == "chmod":
        s.chmod(args[0], args[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=25))
def test_random_operation_sequences_match_the_host(differential: Callable[..., None], steps) -> None:
    def scenario(s) -> None:
        # one level down, so that a symlink to ../x resolves to the same place on both sides
        s.mkdir("w")
        s.chdir("w")
        for step in steps:
            _apply(s, step)
        s.tree()

    differential(scenario, tick=0)
