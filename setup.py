"""Builds emulator._fastpath (the syscall trampoline and TLB-fill hook, DESIGN.md "The C hot path") against
the headers and libunicorn.so.2 inside the installed unicorn wheel, never a system unicorn. Without a
compiler the build is skipped and the emulator uses its pure-ctypes fallback."""

from __future__ import annotations

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _unicorn_dir() -> str | None:
    try:
        import unicorn
    except ImportError:
        return None
    return os.path.dirname(unicorn.__file__)


class OptionalBuildExt(build_ext):
    """A failed compile (no compiler, no unicorn) leaves the ctypes fallback in charge."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            print(f"warning: emulator._fastpath not built ({exc}); using the ctypes fallback")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: {ext.name} not built ({exc}); using the ctypes fallback")


def _extensions() -> list[Extension]:
    base = _unicorn_dir()
    if base is None:
        return []
    lib = os.path.join(base, "lib")
    return [
        Extension(
            "emulator._fastpath",
            sources=["emulator/_fastpath.c"],
            include_dirs=[os.path.join(base, "include")],
            library_dirs=[lib],
            # the wheel's lib at build time, and next to us in site-packages for a non-isolated install;
            # at run time `import unicorn` has loaded libunicorn.so.2 already, which satisfies the soname
            extra_link_args=[
                os.path.join(lib, "libunicorn.so.2"),
                f"-Wl,-rpath,{lib}",
                "-Wl,-rpath,$ORIGIN/../unicorn/lib",
            ],
            extra_compile_args=["-O2", "-Wall"],
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
