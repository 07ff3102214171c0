"""``python -m emulator PROGRAM [ARGS...]``: run a host x86-64 Linux program in the emulator (no VFS image;
``lxfs run`` is the full command). Options: ``--strace``."""

from __future__ import annotations

import os
import sys

from emulator.kernel import run
from emulator.loader import ExecError
from lxfs.vfs.errors import FsError


def main(argv: list[str]) -> int:
    strace = None
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--strace":
            strace = sys.stderr
        else:
            print(f"unknown option {opt}", file=sys.stderr)
            return 2
    if not argv:
        print("usage: python -m emulator [--strace] PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    env = [os.fsencode(f"{k}={v}") for k, v in os.environ.items()]
    try:
        status = run([os.fsencode(a) for a in argv], env, strace=strace)
    except ExecError as exc:
        print(f"lxfs: {exc.strerror}", file=sys.stderr)
        return 126
    except FsError as exc:
        print(f"lxfs: {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127 if exc.errno == 2 else 126
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return status >> 8


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
