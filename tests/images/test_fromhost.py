"""--from-host and the default image: the images hold every file and ELF dependency their programs
need -- checked by exporting, extracting and running them natively under chroot, against the host's
own output -- and keep the host's symlink chains."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lxfs.images import ToolError, export_image, init_image
from lxfs.images.imagefs import ImageFs
from lxfs.images.layout import BUSYBOX
from lxfs.images.ops import default_image_path, ensure_default_image
from lxfs.volfs import fsck
from tests.emulator.fs_harness import lxfs

CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")


def extract(image: Path, dest: Path) -> Path:
    out = dest.with_suffix(".tar")
    export_image(image, out, show_progress=False)
    dest.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-xpf", str(out), "-C", str(dest)], check=True, capture_output=True)
    return dest


def chroot(root: Path, *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CHROOT, str(root), *argv], input=stdin, capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin"}
    )


def assert_clean(path: Path) -> None:
    assert [str(p) for p in fsck.check(path)] == []


def elf_programs(root: Path) -> list[str]:
    out = []
    for d in ("usr/bin", "usr/sbin"):
        base = root / d
        if not base.is_dir():
            continue
        for name in sorted(os.listdir(base)):
            p = base / name
            if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF":
                out.append(f"/{d}/{name}")
    return out


@pytest.fixture(scope="module")
def bash_coreutils(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("bc")
    image = base / "bc.lxfs"
    init_image(image, ["bash", "coreutils"])
    return image, extract(image, base / "root")


@needs_root
def test_from_host_bash_coreutils_has_every_elf_dependency(bash_coreutils: tuple[Path, Path]) -> None:
    image, root = bash_coreutils
    programs = elf_programs(root)
    assert "/usr/bin/bash" in programs and "/usr/bin/ls" in programs and "/usr/bin/sort" in programs
    for prog in programs:
        # ld.so itself, inside the image, reports every library it cannot find.
        listed = chroot(root, "/lib64/ld-linux-x86-64.so.2", "--list", prog)
        assert listed.returncode == 0 and b"not found" not in listed.stdout, (prog, listed.stdout, listed.stderr)
    assert_clean(image)


@needs_root
def test_from_host_programs_behave_as_on_the_host(bash_coreutils: tuple[Path, Path]) -> None:
    _, root = bash_coreutils
    script = "echo $((6*7)); printf 'b\\na\\nc\\n' | sort -r | tr a-z A-Z; seq 3 | wc -l; id -u; basename /x/y.z .z"
    inside = chroot(root, "/bin/bash", "-c", script)
    host = subprocess.run(["/bin/bash", "-c", script], capture_output=True, timeout=60)
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout == host.stdout
    # the minimal /etc, and what the bash and coreutils packages put there (bash.bashrc, skel/)
    packaged = subprocess.run(["dpkg", "-L", "bash", "coreutils"], capture_output=True, check=True).stdout.split()
    from_packages = {p.split(b"/")[2] for p in packaged if p.startswith(b"/etc/") and p.count(b"/") >= 2}
    minimal = {b"group", b"hosts", b"nsswitch.conf", b"passwd"}
    assert chroot(root, "/bin/ls", "/etc").stdout.split() == sorted(minimal | from_packages)
    # No dash was asked for: /bin/sh is bash, so system(3) works.
    assert chroot(root, "/bin/sh", "-c", "echo $BASH_VERSION").stdout.strip() != b""


def test_from_host_keeps_symlink_chains_and_merged_usr(bash_coreutils: tuple[Path, Path]) -> None:
    image, _ = bash_coreutils
    with ImageFs.open(image, readonly=True) as fs:
        for top in (b"bin", b"lib", b"lib64", b"sbin"):
            if os.path.islink(b"/" + top):
                assert fs.readlink(b"/" + top) == os.readlink(b"/" + top)
        lib = b"/lib/x86_64-linux-gnu/libtinfo.so.6"
        st = fs.lstat(lib)
        assert st is not None and stat.S_ISLNK(st.st_mode)
        assert fs.readlink(lib) == os.readlink(lib)
        real = os.path.realpath(lib)
        target = fs.lstat(os.fsencode(real))
        assert target is not None and stat.S_ISREG(target.st_mode) and target.st_size == os.path.getsize(real)
        # Documentation is left out, as in Debian's minimal images.
        assert fs.lstat(b"/usr/share/doc") is None and fs.lstat(b"/usr/share/man") is None
        passwd = fs.lstat(b"/etc/passwd")
        assert passwd is not None and stat.S_IMODE(passwd.st_mode) == 0o644


@needs_root
def test_from_host_python3_runs_with_its_standard_library(tmp_path: Path) -> None:
    image = tmp_path / "py.lxfs"
    init_image(image, ["python3"])
    root = extract(image, tmp_path / "root")
    code = "import sys, json, hashlib, ssl, sqlite3, decimal, ctypes; print(sys.prefix, json.dumps([1, 2]))"
    run = chroot(root, "/usr/bin/python3", "-c", code)
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"/usr [1, 2]\n"
    assert_clean(image)


@needs_root
@pytest.mark.skipif(shutil.which("git") is None or shutil.which("dpkg") is None, reason="needs Debian's git")
def test_program_name_brings_its_package_a_path_only_the_file(tmp_path: Path) -> None:
    """`--from-host git` is git as `apt install git` gives it (helpers, templates): `git init` in the
    image makes the same hooks as on the host; `--from-host /usr/bin/git` is just that program."""
    image = tmp_path / "git.lxfs"
    init_image(image, ["git"])
    run = lxfs("run", str(image), "--", "/usr/bin/git", "init", "-q", "/tmp/r")  # in the emulator: it has /dev
    assert run.returncode == 0, run.stderr
    root = extract(image, tmp_path / "root")
    packaged = subprocess.run(["dpkg", "-L", "git"], capture_output=True, check=True).stdout.decode().split()
    helpers = [p for p in packaged if p.startswith("/usr/lib/git-core/git-") and os.path.isfile(p)]
    assert helpers and all((root / p[1:]).exists() for p in helpers)
    host = tmp_path / "host-r"
    subprocess.run(["git", "init", "-q", str(host)], check=True)
    assert sorted(os.listdir(root / "tmp/r/.git/hooks")) == sorted(os.listdir(host / ".git/hooks"))
    assert_clean(image)

    bare = tmp_path / "bare.lxfs"
    init_image(bare, ["/usr/bin/git"])
    root2 = extract(bare, tmp_path / "root2")
    assert (root2 / "usr/bin/git").exists()
    assert not (root2 / "usr/share/git-core").exists()


def test_unknown_name_is_one_clear_error_and_leaves_no_image(tmp_path: Path) -> None:
    image = tmp_path / "x.lxfs"
    with pytest.raises(ToolError, match="no-such-program-or-package: not a program on PATH"):
        init_image(image, ["bash", "no-such-program-or-package"])
    assert sorted(os.listdir(tmp_path)) == []


def test_init_refuses_an_existing_file(tmp_path: Path) -> None:
    image = tmp_path / "x.lxfs"
    image.write_bytes(b"precious")
    with pytest.raises(ToolError, match="already exists"):
        init_image(image)
    assert image.read_bytes() == b"precious"


def test_init_layout_has_linux_modes(tmp_path: Path) -> None:
    image = tmp_path / "x.lxfs"
    init_image(image)
    with ImageFs.open(image, readonly=True) as fs:
        modes = {n: stat.S_IMODE(fs.lstat(b"/" + n).st_mode) for n in fs.listdir(b"/")}  # type: ignore[union-attr]
    assert modes[b"tmp"] == 0o1777 and modes[b"root"] == 0o700 and modes[b"proc"] == 0o555
    assert modes[b"usr"] == modes[b"etc"] == modes[b"bin"] == 0o755
    assert_clean(image)


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static not installed")
def test_default_image_is_made_once_from_busybox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXFS_HOME", str(tmp_path / "home"))
    notes: list[str] = []
    path = ensure_default_image(notes.append)
    assert path == default_image_path() == tmp_path / "home" / "default.lxfs"
    assert len(notes) == 1 and "busybox" in notes[0]
    before = path.stat().st_mtime_ns
    assert ensure_default_image(notes.append) == path and len(notes) == 1
    assert path.stat().st_mtime_ns == before
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, check=True).stdout.split()
    with ImageFs.open(path, readonly=True) as fs:
        bb = fs.lstat(b"/bin/busybox")
        assert bb is not None and stat.S_ISREG(bb.st_mode) and bb.st_mode & 0o111
        for applet in applets:
            if applet not in (b"linuxrc", b"bin/busybox"):
                assert fs.readlink(b"/" + applet) == b"/bin/busybox"
        for name in (b"/etc/passwd", b"/etc/group", b"/root", b"/tmp"):
            assert fs.lstat(name) is not None
    assert_clean(path)
    if os.geteuid() == 0:
        root = extract(path, tmp_path / "root")
        run = chroot(root, "/bin/sh", "-c", "echo hi | sed s/hi/ho/; ls /bin | grep -c .")
        assert run.returncode == 0 and run.stdout.split()[0] == b"ho"


def test_default_image_without_busybox_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXFS_HOME", str(tmp_path))
    with pytest.raises(ToolError, match="apt-get install busybox-static"):
        ensure_default_image(lambda _m: None, busybox=str(tmp_path / "no-busybox"))
    assert not default_image_path().exists()


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static not installed")
def test_two_processes_making_the_default_image_at_once_get_one_image(tmp_path: Path) -> None:
    env = {**os.environ, "LXFS_HOME": str(tmp_path)}
    code = "from lxfs.images import ensure_default_image; print(ensure_default_image(lambda m: print('made')))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(out.count("made") for out in outputs) == 1
    assert {out.splitlines()[-1] for out in outputs} == {str(tmp_path / "default.lxfs")}
    assert sorted(os.listdir(tmp_path)) == [".default.lxfs.lock", "default.lxfs"]
    assert_clean(tmp_path / "default.lxfs")
