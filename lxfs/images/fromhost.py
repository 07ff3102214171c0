"""Seeding an image from the host (``lxfs init --from-host``): named programs (found on PATH, with the
files of the Debian package that owns them) or installed Debian packages (``dpkg -L``), the shared
libraries and interpreter their ELF files need, symlink chains kept as symlinks, and a minimal /etc."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field

from lxfs.images.elfdeps import Resolver, is_elf
from lxfs.images.entries import Entry, Warn, describe
from lxfs.images.hostsource import host_entry
from lxfs.images.sink import ImageWriter

# Package files a runtime image has no use for (as Debian's minimal/docker images exclude them).
SKIPPED_PREFIXES = (b"/usr/share/doc/", b"/usr/share/man/", b"/usr/share/info/", b"/usr/share/lintian/")

# Programs that need data beyond their ELF dependencies, as the packages that carry it (if installed).
COMPANIONS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"python(\d+\.\d+)"), ("lib{name}-minimal", "lib{name}-stdlib", "{name}-minimal")),
)

MIN_ETC: dict[bytes, bytes] = {
    b"/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    b"/etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    b"/etc/nsswitch.conf": b"passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
    b"/etc/hosts": b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}

MAX_SYMLINKS = 40
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NotFound(Exception):
    """A name that is neither a host path, a program on PATH nor an installed package."""


@dataclass(slots=True)
class Seeder:
    """Copies host paths into the image under the same names."""

    writer: ImageWriter
    warn: Warn
    resolver: Resolver = field(default_factory=Resolver)
    elf_files: list[str] = field(default_factory=list)  # host paths of copied ELF files
    copied: set[bytes] = field(default_factory=set)

    def copy(self, path: bytes) -> None:
        """Copy host ``path`` (absolute) to the same path in the image. Each prefix that is a symlink
        on the host and absent in the image is recreated as that symlink, and its target copied too;
        where the image already has a directory or symlink, the image's layout is kept and followed."""
        hops = 0
        while True:
            path = os.path.normpath(path)
            if path in self.copied:
                return
            parts = [p for p in path.split(b"/") if p]
            restart: bytes | None = None
            cur = b""
            for i, part in enumerate(parts):
                cur += b"/" + part
                last = i == len(parts) - 1
                rest = b"/".join(parts[i + 1 :])
                img = self.writer.lstat(cur)
                if img is not None and stat.S_ISLNK(img.st_mode):
                    if last and cur in self.copied:
                        return
                    restart = _resolve(cur, self.writer.readlink(cur), rest)
                    self.copied.add(cur)
                    break
                if img is not None and stat.S_ISDIR(img.st_mode):
                    if last:
                        self.copied.add(cur)
                    continue
                if img is not None:
                    if not last:
                        self.warn(f"{describe(cur[1:])}: not a directory in the image; {os.fsdecode(path)} not copied")
                        return
                    self.copied.add(cur)
                    return
                try:
                    st = os.lstat(cur)
                except OSError as exc:
                    self.warn(f"{os.fsdecode(cur)}: {exc.strerror} on the host: not copied")
                    return
                self.writer.put(_entry(cur, st))
                if stat.S_ISLNK(st.st_mode):
                    # Continue at the target (for the last component too: a chain is kept link by link).
                    self.copied.add(cur)
                    restart = _resolve(cur, os.readlink(cur), rest)
                    break
                if stat.S_ISREG(st.st_mode) and is_elf(os.fsdecode(cur)):
                    self.elf_files.append(os.fsdecode(cur))
                if last:
                    self.copied.add(cur)
            if restart is None:
                return
            hops += 1
            if hops > MAX_SYMLINKS:
                self.warn(f"{os.fsdecode(path)}: too many levels of symbolic links: not copied")
                return
            path = restart

    def copy_interpreter(self, path: bytes) -> None:
        """A script's interpreter (``#!``), and the program ``env`` would run."""
        try:
            with open(path, "rb") as f:
                first = f.readline(256)
        except OSError:
            return
        if not first.startswith(b"#!"):
            return
        words = first[2:].split()
        if not words or not words[0].startswith(b"/"):
            return
        self.copy(words[0])
        if os.path.basename(words[0]) == b"env" and len(words) > 1 and not words[1].startswith(b"-"):
            found = find_program(os.fsdecode(words[1]))
            if found is not None:
                self.copy(os.fsencode(found))

    def add_program(self, name: str) -> None:
        """A host path: that file (and what it needs). A program name: also the Debian package that owns
        it, as ``apt install`` would give it (git's helpers in /usr/lib/git-core and its templates, bash's
        /etc/bash.bashrc...)."""
        found = name if "/" in name else find_program(name)
        if found is None:
            raise NotFound(name)
        path = os.path.abspath(found)
        self.copy(os.fsencode(path))
        self.copy_interpreter(os.fsencode(os.path.realpath(path)))
        if "/" not in name:
            owner = package_of(path)
            if owner is not None:
                self.add_package(owner)
        real = os.path.basename(os.path.realpath(path))
        for pattern, packages in COMPANIONS:
            match = pattern.fullmatch(real)
            if match is None:
                continue
            for package in packages:
                pkg = package.format(name=match.group(0))
                if package_installed(pkg):
                    self.add_package(pkg)

    def add_package(self, name: str) -> None:
        for path in package_files(name):
            if not (path + b"/").startswith(SKIPPED_PREFIXES):
                self.copy(path)

    def add_dependencies(self) -> None:
        """Copy what the copied ELF files need; repeats until no new ELF file appears."""
        done: set[str] = set()
        while True:
            todo = [p for p in self.elf_files if p not in done]
            if not todo:
                break
            done.update(todo)
            for dep in self.resolver.closure(todo):
                self.copy(os.fsencode(dep))
        for needed, by in self.resolver.missing:
            self.warn(f"{by}: needs {needed}, which is not on this host")

    def add_minimal_system(self) -> None:
        """/etc/passwd, group, nsswitch.conf and hosts where the image has none, and /bin/sh as a
        symlink to bash when bash is there and no sh is (system(3) and ``shell=True`` need it)."""
        for path, content in MIN_ETC.items():
            if self.writer.lstat(path) is None:
                self.writer.put(text_file(path[1:], content))
        if self.writer.lstat(b"/bin/sh") is None and self.writer.lstat(b"/bin/bash") is not None:
            now = time.time_ns()
            self.writer.put(Entry(b"bin/sh", stat.S_IFLNK | 0o777, mtime_ns=now, symlink_target=b"bash"))


def find_program(name: str) -> str | None:
    """``name`` on the PATH the image's programs will use (Debian's default), else on the user's PATH."""
    return shutil.which(name, path=SYSTEM_PATH) or shutil.which(name)


def _entry(path: bytes, st: os.stat_result) -> Entry:
    entry = host_entry(path, path[1:], st)
    if stat.S_ISDIR(st.st_mode):
        entry.xattrs = {}  # a directory's host xattrs (e.g. SELinux labels) say nothing about the image
    return entry


def text_file(path: bytes, content: bytes, mode: int = 0o644) -> Entry:
    """A small root-owned regular file (``path`` relative to the image root), dated now."""
    now = time.time_ns()
    return Entry(
        path=path,
        mode=stat.S_IFREG | mode,
        mtime_ns=now,
        atime_ns=now,
        size=len(content),
        data=lambda: iter([(0, content)]) if content else iter(()),
    )


def _resolve(link: bytes, target: bytes, rest: bytes) -> bytes:
    base = target if target.startswith(b"/") else os.path.dirname(link) + b"/" + target
    return os.path.normpath(base + (b"/" + rest if rest else b""))


def package_installed(name: str) -> bool:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", name], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == b"installed"


def package_of(path: str) -> str | None:
    """The installed Debian package that ships ``path`` (``dpkg -S``), trying the names dpkg may know it by
    on a merged-/usr system (/usr/bin/bash is /bin/bash to dpkg), or None."""
    candidates = {path, os.path.realpath(path)}
    for p in list(candidates):
        for merged, legacy in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
            if p.startswith(merged):
                candidates.add(legacy + p[len(merged) :])
            elif p.startswith(legacy):
                candidates.add(merged + p[len(legacy) :])
    try:
        out = subprocess.run(["dpkg", "-S", *sorted(candidates)], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.decode(errors="replace").splitlines():
        owners, sep, _ = line.partition(": /")
        if sep and not owners.startswith("diversion by"):
            package = owners.split(",")[0].strip().split(":")[0]  # "pkg:arch" -> "pkg"
            if package and package_installed(package):
                return package
    return None


def package_files(name: str) -> list[bytes]:
    if not package_installed(name):
        raise NotFound(name)
    out = subprocess.run(["dpkg", "-L", name], capture_output=True, check=True, timeout=60)
    return [line for line in out.stdout.splitlines() if line.startswith(b"/") and line != b"/."]


def seed(writer: ImageWriter, names: list[str], warn: Warn) -> Seeder:
    """Copy each of ``names`` (a host path, a program on PATH, or an installed package, tried in that
    order) with its run-time dependencies and a minimal /etc. Raises NotFound for an unknown name."""
    seeder = Seeder(writer, warn)
    for name in names:
        if "/" in name or find_program(name) is not None:
            seeder.add_program(name)
        else:
            seeder.add_package(name)
    seeder.add_dependencies()
    seeder.add_minimal_system()
    return seeder
