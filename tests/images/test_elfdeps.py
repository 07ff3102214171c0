"""ELF dependency resolution, differential against the host's own loader (``ld.so --list``): the same
libraries for system programs, for RUNPATH/RPATH with $ORIGIN, and for musl's interpreter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lxfs.images.elfdeps import Resolver, ld_so_conf_dirs

LDSO = "/lib64/ld-linux-x86-64.so.2"


def loader_view(program: str, env: dict[str, str] | None = None) -> set[str]:
    """The real paths of what the host's ld.so loads for ``program`` (its interpreter included)."""
    out = subprocess.run([LDSO, "--list", program], capture_output=True, text=True, check=True, env=env or {})
    paths = set()
    for line in out.stdout.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            paths.add(os.path.realpath(m.group(1)))
    return paths


def resolver_view(program: str) -> set[str]:
    resolver = Resolver()
    found = {os.path.realpath(p) for p in resolver.closure([program])}
    assert resolver.missing == []
    return found


@pytest.mark.parametrize("program", ["/usr/bin/bash", "/usr/bin/ls", "/usr/bin/python3.11", "/usr/bin/tar"])
def test_system_programs_need_what_ld_so_loads(program: str) -> None:
    if not os.path.exists(program):
        pytest.skip(f"{program} not installed")
    assert resolver_view(program) == loader_view(program)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    base = tmp_path_factory.mktemp("elf")
    (base / "lib").mkdir()
    (base / "bin").mkdir()
    (base / "inner").mkdir()
    (base / "inner.c").write_text("int inner(void) { return 41; }\n")
    (base / "outer.c").write_text("int inner(void); int outer(void) { return inner() + 1; }\n")
    (base / "main.c").write_text("int outer(void); int main(void) { return outer() == 42 ? 0 : 1; }\n")

    def cc(*args: str) -> None:
        subprocess.run(["gcc", *args], check=True, capture_output=True, cwd=base)

    cc("-shared", "-fPIC", "-o", "inner/libinner.so", "inner.c")
    # outer finds inner through its own RUNPATH, relative to itself.
    cc("-shared", "-fPIC", "-o", "lib/libouter.so", "outer.c", "-Linner", "-linner", "-Wl,-rpath,$ORIGIN/../inner")
    cc("-o", "bin/main", "main.c", "-Llib", "-louter", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
    # An old-style DT_RPATH (no RUNPATH) on the executable.
    cc("-o", "bin/main_rpath", "main.c", "-Llib", "-louter", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib")
    return base


@pytest.mark.parametrize("name", ["main", "main_rpath"])
def test_origin_runpath_and_rpath_resolve_as_ld_so_does(built: Path, name: str) -> None:
    program = str(built / "bin" / name)
    assert subprocess.run([program]).returncode == 0
    view = resolver_view(program)
    assert view == loader_view(program)
    assert str(built / "inner" / "libinner.so") in view and str(built / "lib" / "libouter.so") in view


def test_musl_programs_name_their_own_interpreter(tmp_path: Path) -> None:
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-tools not installed")
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["musl-gcc", "-o", "m", "m.c"], check=True, capture_output=True, cwd=tmp_path)
    deps = Resolver().closure([str(tmp_path / "m")])
    assert len(deps) == 1 and "musl" in os.path.realpath(deps[0])


def test_ld_so_conf_follows_includes_in_order(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("/opt/b\n")
    (tmp_path / "conf.d" / "a.conf").write_text("# comment\n/opt/a  # trailing\n\n")
    (tmp_path / "ld.so.conf").write_text("/first\ninclude conf.d/*.conf\n/last\n")
    assert ld_so_conf_dirs(str(tmp_path / "ld.so.conf")) == ["/first", "/opt/a", "/opt/b", "/last"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_from_host_program_with_origin_libraries_runs_in_its_image(built: Path, tmp_path: Path) -> None:
    from lxfs.images import export_image, init_image
    from lxfs.volfs import fsck

    image = tmp_path / "m.lxfs"
    init_image(image, [str(built / "bin" / "main")])
    assert fsck.check(image) == []
    export_image(image, tmp_path / "m.tar", show_progress=False)
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-xpf", str(tmp_path / "m.tar"), "-C", str(root)], check=True)
    # ld.so finds the main program's $ORIGIN through /proc/self/exe: give the chroot a /proc, in a
    # private mount namespace that ends with the command.
    script = f"mount --bind /proc {root}/proc && exec chroot {root} {built}/bin/main"
    run = subprocess.run(["unshare", "--mount", "sh", "-c", script], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert run.returncode == 0
