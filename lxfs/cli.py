"""The `lxfs` command line: one typer app; each area registers its commands from lxfs/commands/."""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="lxfs",
    help="Linux on a user-mode kernel: VolFs images, an x86-64 emulator, /proc, /dev and FUSE.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines register(app). The CLI is the composition root: it is the one place in lxfs/
# that may (lazily, inside commands) reach the emulator.
COMMAND_MODULES = (
    "lxfs.commands.images",  # init, import, export, fsck, info
    "lxfs.commands.run",  # run, shell, syscalls
    "lxfs.commands.mount",  # mount, umount, conformance
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
