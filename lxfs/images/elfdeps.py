"""The shared libraries and interpreter an ELF program needs, found as ld.so(8) finds them: PT_INTERP,
DT_NEEDED searched in DT_RPATH (without DT_RUNPATH), DT_RUNPATH, the ld.so.conf directories, then the
default directories; $ORIGIN/$LIB/$PLATFORM expanded; only objects of the same class and machine."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

# Debian's ld.so searches the multiarch directories first (glibc's SYSTEM_DIRS on Debian).
DEFAULT_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)


@dataclass(slots=True)
class ElfObject:
    path: str
    elfclass: int
    machine: str
    interp: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def read_elf(path: str) -> ElfObject | None:
    """The loader-relevant facts of an ELF file, or None if ``path`` is not a readable ELF file."""
    if not is_elf(path):
        return None
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            obj = ElfObject(path=path, elfclass=elf.elfclass, machine=elf["e_machine"])
            for segment in elf.iter_segments():
                if segment["p_type"] == "PT_INTERP":
                    obj.interp = segment.get_interp_name()  # type: ignore[attr-defined]
            for section in elf.iter_sections():
                if not isinstance(section, DynamicSection):
                    continue
                for tag in section.iter_tags():
                    t: Any = tag  # pyelftools adds needed/rpath/runpath per tag kind
                    kind = t.entry.d_tag
                    if kind == "DT_NEEDED":
                        obj.needed.append(t.needed)
                    elif kind == "DT_RPATH":
                        obj.rpath.extend(_expand(t.rpath, path))
                    elif kind == "DT_RUNPATH":
                        obj.runpath.extend(_expand(t.runpath, path))
            return obj
    except (ELFError, OSError, ValueError):
        return None


def _expand(text: str, origin_of: str) -> list[str]:
    origin = os.path.dirname(os.path.abspath(origin_of))
    out = []
    for part in text.split(":"):
        if not part:
            continue
        for token, value in (("ORIGIN", origin), ("LIB", "lib/x86_64-linux-gnu"), ("PLATFORM", "x86_64")):
            part = part.replace("${" + token + "}", value).replace("$" + token, value)
        out.append(part)
    return out


def ld_so_conf_dirs(conf: str = "/etc/ld.so.conf") -> list[str]:
    """The directories listed in ld.so.conf and its ``include`` files, in order."""
    out: list[str] = []

    def parse(path: str, depth: int) -> None:
        if depth > 8:
            return
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include"):
                for pattern in line.split()[1:]:
                    if not os.path.isabs(pattern):
                        pattern = os.path.join(os.path.dirname(path), pattern)
                    for inc in sorted(glob.glob(pattern)):
                        parse(inc, depth + 1)
            elif not line.startswith("hwcap"):
                out.append(line)

    parse(conf, 0)
    return out


class Resolver:
    """Finds dependencies on the host; one instance caches ELF reads across programs."""

    def __init__(self, conf: str = "/etc/ld.so.conf") -> None:
        self.system_dirs = [*ld_so_conf_dirs(conf), *DEFAULT_DIRS]
        self._cache: dict[str, ElfObject | None] = {}
        self.missing: list[tuple[str, str]] = []  # (needed name, by whom) not found

    def elf(self, path: str) -> ElfObject | None:
        if path not in self._cache:
            self._cache[path] = read_elf(path)
        return self._cache[path]

    def find(self, name: str, by: ElfObject, rpath: list[str]) -> str | None:
        if "/" in name:
            return name if self._compatible(name, by) else None
        dirs = [*(rpath if not by.runpath else []), *by.runpath, *self.system_dirs]
        for d in dirs:
            candidate = os.path.join(d, name)
            if self._compatible(candidate, by):
                return candidate
        return None

    def _compatible(self, path: str, by: ElfObject) -> bool:
        obj = self.elf(path)
        return obj is not None and obj.elfclass == by.elfclass and obj.machine == by.machine

    def closure(self, roots: list[str]) -> list[str]:
        """Every host path the ELF files ``roots`` need at run time (interpreters and libraries, as the
        paths ld.so opens, symlinks unresolved), in discovery order, the roots excluded."""
        out: list[str] = []
        seen = set(roots)
        # (object, the RPATH list inherited from its loaders: DT_RPATH applies to the whole chain)
        queue: list[tuple[ElfObject, list[str]]] = []
        for root in roots:
            obj = self.elf(root)
            if obj is not None:
                queue.append((obj, obj.rpath if not obj.runpath else []))
        while queue:
            obj, inherited = queue.pop(0)
            wanted: list[str] = []
            if obj.interp:
                wanted.append(obj.interp)
            for name in obj.needed:
                found = self.find(name, obj, [*obj.rpath, *inherited])
                if found is None:
                    self.missing.append((name, obj.path))
                    continue
                wanted.append(found)
            for path in wanted:
                if path in seen:
                    continue
                seen.add(path)
                out.append(path)
                dep = self.elf(path)
                if dep is not None:
                    queue.append((dep, [*inherited, *(obj.rpath if not obj.runpath else [])]))
        return out
