"""Builds emulator._fastpath (the syscall trampoline and TLB-fill hook, DESIGN.md "The C hot path") against
the headers and libunicorn.so.2 inside the installed unicorn wheel, never a system unicorn. Without a
compiler the build is skipped and the emulator uses its pure-ctypes fallback.

It also builds emulator/_unicorn/libunicorn.so.2: the same Unicorn release from its source distribution
(x86 only, ~40 s on 2 cores) with one change that makes an asynchronous uc_emu_stop precise (see
_patch_unicorn). The emulator then preempts from its timer thread directly instead of through a block
hook on every translation block (sieve: ~1.7x faster, bench/RESULTS.md). Any failure (no network, no
cmake, another Unicorn version) leaves the wheel's library in charge, with the block hook.
LXFS_STOCK_UNICORN=1 skips this build."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Unicorn 2.1.2-2.1.4 call check_exit_request() after every guest load and store as well as at the start of
# each translation block. An exit requested from another thread (uc_emu_stop) that lands on the check
# after a store restores RIP to the start of that instruction, which has already written memory: the
# instruction runs twice (a 4-thread `lock xadd` counter over-counts). Without the per-access checks
# (as in 2.1.0 and 2.1.1) the request is taken only at a block start, where RIP is exact.
PATCHED_FILE = os.path.join("qemu", "tcg", "tcg-op.c")
PER_ACCESS_CHECK = "    check_exit_request(tcg_ctx);\n"
PER_ACCESS_CHECKS = 6
# A symbol the emulator looks for to know that the library it loaded is this build.
MARKER = "\nUNICORN_EXPORT int lxfs_precise_stop(void)\n{\n    return 1;\n}\n"


def _unicorn_dir() -> str | None:
    try:
        import unicorn
    except ImportError:
        return None
    return os.path.dirname(unicorn.__file__)


def _unicorn_version() -> str:
    from importlib.metadata import version

    return version("unicorn")


def _patch_unicorn(src: str) -> None:
    path = os.path.join(src, PATCHED_FILE)
    with open(path) as f:
        text = f.read()
    if text.count(PER_ACCESS_CHECK) != PER_ACCESS_CHECKS:
        raise RuntimeError(f"{PATCHED_FILE} is not the one this patch was written for")
    with open(path, "w") as f:
        f.write(text.replace(PER_ACCESS_CHECK, "    /* lxfs: exit requests are taken at block starts only */\n"))
    with open(os.path.join(src, "uc.c"), "a") as f:
        f.write(MARKER)


def build_precise_unicorn(work: str) -> str:
    """Download the installed Unicorn's source distribution, patch it, build libunicorn.so.2 (x86 only);
    returns the library's path."""
    if shutil.which("cmake") is None:
        raise RuntimeError("cmake not found")
    version = _unicorn_version()
    os.makedirs(work, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="unicorn-", dir=work)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         f"unicorn=={version}", "-d", tmp],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (sdist,) = glob.glob(os.path.join(tmp, f"unicorn-{version}.tar.gz"))
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # Python < 3.11.4 (Debian 12's 3.11.2): plain files and directories inside tmp only
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            for m in members:
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    raise RuntimeError(f"unsafe path in {sdist}: {m.name}")
            tar.extractall(tmp, members=members)
    src = os.path.join(tmp, f"unicorn-{version}", "src")
    _patch_unicorn(src)
    build = os.path.join(src, "build")
    quiet = {"check": True, "stdout": subprocess.DEVNULL}
    subprocess.run(
        ["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DUNICORN_ARCH=x86",
         "-DUNICORN_BUILD_TESTS=OFF", "-DUNICORN_INSTALL=OFF"],
        **quiet,
    )  # fmt: skip
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", build, "--target", "unicorn", "-j", jobs], **quiet)
    return os.path.join(build, "libunicorn.so.2")


class OptionalBuildExt(build_ext):
    """A failed compile (no compiler, no unicorn) leaves the ctypes fallback in charge."""

    def run(self) -> None:
        lib = None
        if not os.environ.get("LXFS_STOCK_UNICORN") and self.extensions:
            try:
                lib = build_precise_unicorn(os.path.abspath(self.build_temp))
            except Exception as exc:
                print(f"warning: patched Unicorn not built ({exc}); the emulator preempts through a block hook")
        try:
            super().run()
        except Exception as exc:
            print(f"warning: emulator._fastpath not built ({exc}); using the ctypes fallback")
            return
        if lib is not None:
            # into the wheel (build_lib) and, for an in-place or editable build, beside the sources
            dests = [os.path.join(self.build_lib, "emulator")]
            if self.inplace or getattr(self, "editable_mode", False):
                dests.append(os.path.abspath("emulator"))
            for package in dests:
                os.makedirs(os.path.join(package, "_unicorn"), exist_ok=True)
                shutil.copy(lib, os.path.join(package, "_unicorn", "libunicorn.so.2"))

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
            # at run time `import unicorn` has loaded libunicorn.so.2 (the patched one from _unicorn/ when
            # it was built, see emulator/__init__.py) already, which satisfies the soname
            extra_link_args=[
                os.path.join(lib, "libunicorn.so.2"),
                f"-Wl,-rpath,{lib}",
                "-Wl,-rpath,$ORIGIN/../unicorn/lib",
            ],
            extra_compile_args=["-O2", "-Wall"],
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
