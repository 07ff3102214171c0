"""A Linux kernel personality on Unicorn: runs x86-64 Linux programs with every file syscall in the VFS."""

import os as _os
import sys as _sys

# The install builds a patched libunicorn.so.2 next to us when it can (setup.py: an asynchronous uc_emu_stop
# is precise there, so no block hook is needed for preemption). Load it through the unicorn binding before
# anything else imports unicorn; emulator.cpu checks which library was loaded. The environment is left as
# it was, so child processes (and LXFS_STOCK_UNICORN=1 in them) choose for themselves.
_PATCHED = _os.path.join(_os.path.dirname(__file__), "_unicorn")
if (
    "unicorn" not in _sys.modules
    and not _os.environ.get("LXFS_STOCK_UNICORN")
    and "LIBUNICORN_PATH" not in _os.environ
    and _os.path.exists(_os.path.join(_PATCHED, "libunicorn.so.2"))
):
    _os.environ["LIBUNICORN_PATH"] = _PATCHED
    try:
        import unicorn  # noqa: F401  (loads the library now)
    finally:
        del _os.environ["LIBUNICORN_PATH"]
