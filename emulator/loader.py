"""Program loading for execve: ELF64 x86-64 images (static, static-PIE, dynamic with PT_INTERP), ``#!``
scripts, and the initial stack (argv, envp, auxv) as Linux's binfmt_elf/binfmt_script build them.

Malformed or foreign files raise ExecError(ENOEXEC, message); the caller prints the message for the
first exec and returns -ENOEXEC to a guest.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from emulator.memory import PAGE_MASK, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace, Buffer, page_up
from lxfs.vfs.errors import FsError

# include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN = 23, 25, 26, 31
# CPUID.1:EDX of Unicorn 2.1.4's default x86-64 model (what Linux reports as AT_HWCAP) and
# HWCAP2_FSGSBASE (CPUID.7:EBX bit 0 is set on that model).
HWCAP = 0x078BFBFD
HWCAP2 = 1 << 1
ELF_ET_DYN_BASE = 0x5555_5555_4000  # where Linux puts a PIE main program without randomisation
BINPRM_BUF_SIZE = 256  # the #! line limit (include/uapi/linux/binfmts.h)
MAX_ARG_STRLEN = PAGE_SIZE * 32
MAX_SCRIPT_DEPTH = 4  # binfmt_script recursion limit -> ELOOP

PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
EM_X86_64 = 62
ET_EXEC, ET_DYN = 2, 3


class ExecError(FsError):
    """execve cannot load this file; the message says why (shown for the first program)."""


@dataclass(slots=True)
class ElfImage:
    """Where an ELF file landed."""

    entry: int
    phdr: int
    phnum: int
    phent: int
    bias: int
    lo: int  # lowest mapped address
    hi: int  # end of the highest segment (brk starts here for the main program)
    interp: bytes | None
    start_code: int
    end_code: int
    start_data: int
    end_data: int


@dataclass(slots=True)
class Program:
    """What execve resolved: the file to load, its data, and argv after any #! rewriting."""

    path: bytes
    data: bytes
    argv: list[bytes]


ReadFile = Callable[[bytes], bytes]  # path -> contents (FsError on failure); execute permission checked


def resolve_script(path: bytes, data: bytes, argv: list[bytes], read_file: ReadFile) -> Program:
    """Follow ``#!`` lines (binfmt_script): argv becomes [interp, optional-arg, path, argv[1:]...]."""
    for _ in range(MAX_SCRIPT_DEPTH + 1):
        if not data.startswith(b"#!"):
            return Program(path, data, argv)
        line = data[2:BINPRM_BUF_SIZE].split(b"\n", 1)[0].strip(b" \t")
        if not line:
            raise ExecError(errno.ENOEXEC, "empty #! line")
        parts = line.split(None, 1)
        interp = parts[0]
        new_argv = [interp]
        if len(parts) > 1:
            new_argv.append(parts[1].strip(b" \t"))
        new_argv.append(path)
        new_argv += argv[1:]
        path, argv = interp, new_argv
        data = read_file(path)
    raise FsError(errno.ELOOP)


@dataclass(frozen=True, slots=True)
class Segment:
    """A program header, as pyelftools parsed it."""

    p_type: str
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int


@dataclass(frozen=True, slots=True)
class ElfHeader:
    e_type: str
    e_entry: int
    e_phoff: int
    e_phnum: int
    e_phentsize: int
    segments: tuple[Segment, ...]


# Parsed headers by (size, hash) of the file: pyelftools costs ~10 ms per file and fork+exec loops run the
# same few programs (bytes objects cache their hash, so a repeated exec of cached data costs nothing).
_HEADERS: dict[tuple[int, int], ElfHeader] = {}


def _parse(data: bytes, what: str) -> ElfHeader:
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ExecError(errno.ENOEXEC, f"{what}: not an ELF file")
    if data[4] != 2:
        raise ExecError(errno.ENOEXEC, f"{what}: 32-bit ELF is not supported (x86-64 only)")
    if data[5] != 1:
        raise ExecError(errno.ENOEXEC, f"{what}: big-endian ELF")
    machine, = struct.unpack_from("<H", data, 18)  # fmt: skip
    if machine != EM_X86_64:
        raise ExecError(errno.ENOEXEC, f"{what}: ELF for machine {machine}, not x86-64")
    key = (len(data), hash(data))
    cached = _HEADERS.get(key)
    if cached is not None:
        return cached
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_type"] not in ("ET_EXEC", "ET_DYN"):
            raise ExecError(errno.ENOEXEC, f"{what}: ELF type {elf['e_type']} is not executable")
        if elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"] > len(data) or elf["e_phnum"] == 0:
            raise ExecError(errno.ENOEXEC, f"{what}: truncated ELF program headers")
        segs = tuple(
            Segment(h.p_type, h.p_offset, h.p_vaddr, h.p_filesz, h.p_memsz, h.p_flags)
            for h in (seg.header for seg in elf.iter_segments())
        )
        hdr = elf.header
        header = ElfHeader(hdr.e_type, hdr.e_entry, hdr.e_phoff, hdr.e_phnum, hdr.e_phentsize, segs)
    except (ELFError, struct.error, ValueError) as exc:
        raise ExecError(errno.ENOEXEC, f"{what}: malformed ELF ({exc})") from None
    if len(_HEADERS) > 64:
        _HEADERS.clear()
    _HEADERS[key] = header
    return header


# Read-only PT_LOAD segments (text, read-only data) of one file share a buffer across execs, as Linux's page
# cache shares their pages: no copy and no fresh pages per exec (busybox: 1.5 MiB each time). Nothing
# writes such a buffer: a process that mprotects it writable or MADV_DONTNEEDs it gets its own copy first
# (AddressSpace.unshare). Found by the file's hash and checked byte for byte before reuse.
_RO_SEGMENTS: dict[tuple[int, int, int, int], weakref.ref[Buffer]] = {}


def _segment_buffer(data: bytes, file_start: int, contents: bytes, length: int) -> Buffer:
    key = (len(data), hash(data), file_start, length)
    ref = _RO_SEGMENTS.get(key)
    buf = ref() if ref is not None else None
    if buf is not None and buf.users > 0 and buf.starts_with(contents):
        return buf
    buf = Buffer(length)
    buf.view[: len(contents)] = contents
    if len(_RO_SEGMENTS) > 64:
        _RO_SEGMENTS.clear()
    _RO_SEGMENTS[key] = weakref.ref(buf)
    return buf


def load_elf(mm: AddressSpace, data: bytes, what: str, *, main: bool, path: bytes = b"") -> ElfImage:
    """Map the PT_LOAD segments of an ELF file (copies of the file pages, zero-filled bss)."""
    elf = _parse(data, what)
    segs = elf.segments
    loads = [h for h in segs if h.p_type == "PT_LOAD"]
    if not loads:
        raise ExecError(errno.ENOEXEC, f"{what}: no PT_LOAD segment")
    interp = None
    for h in segs:
        if h.p_type == "PT_INTERP":
            end = h.p_offset + h.p_filesz
            if end > len(data) or h.p_filesz < 2:
                raise ExecError(errno.ENOEXEC, f"{what}: bad PT_INTERP")
            interp = data[h.p_offset : end].split(b"\0", 1)[0]
    lo = min(h.p_vaddr for h in loads) & PAGE_MASK
    hi = max(h.p_vaddr + h.p_memsz for h in loads)
    bias = 0
    if elf.e_type == "ET_DYN":
        span = page_up(hi) - lo
        base = ELF_ET_DYN_BASE if main and mm.is_free(ELF_ET_DYN_BASE, ELF_ET_DYN_BASE + span) else 0
        if not base:
            base = mm.find_free(span)
        bias = base - lo
    for h in loads:
        if h.p_filesz > h.p_memsz or h.p_offset + h.p_filesz > len(data):
            raise ExecError(errno.ENOEXEC, f"{what}: truncated segment")
        start = (h.p_vaddr + bias) & PAGE_MASK
        pad = h.p_vaddr + bias - start
        end = page_up(h.p_vaddr + bias + h.p_memsz)
        if end <= start:
            continue
        prot = (
            (PROT_READ if h.p_flags & 4 else 0)
            | (PROT_WRITE if h.p_flags & 2 else 0)
            | (PROT_EXEC if h.p_flags & 1 else 0)
        )
        file_start = h.p_offset - pad
        if file_start < 0:
            raise ExecError(errno.ENOEXEC, f"{what}: misaligned segment")
        contents = data[file_start : h.p_offset + h.p_filesz]
        # the file's name in /proc/PID/maps; the zero-fill beyond the file's pages is anonymous
        file_end = page_up(h.p_vaddr + bias + h.p_filesz)
        if file_end > start and not prot & PROT_WRITE:
            buf = _segment_buffer(data, file_start, contents, file_end - start)
            mm.map(start, file_end - start, prot, fixed=True, buf=buf, offset=file_start, name=path)
        elif file_end > start:
            mm.map(start, file_end - start, prot, fixed=True, data=contents, offset=file_start, name=path)
        if end > max(file_end, start):
            mm.map(max(file_end, start), end - max(file_end, start), prot, fixed=True)
    # AT_PHDR: the program headers as mapped (PT_PHDR, or inside the segment that covers e_phoff)
    phdr = 0
    for h in segs:
        if h.p_type == "PT_PHDR":
            phdr = h.p_vaddr + bias
    if not phdr:
        for h in loads:
            if h.p_offset <= elf.e_phoff < h.p_offset + h.p_filesz:
                phdr = h.p_vaddr + bias + elf.e_phoff - h.p_offset
    code = [h for h in loads if h.p_flags & 1]
    datas = [h for h in loads if not h.p_flags & 1]
    return ElfImage(
        entry=elf.e_entry + bias,
        phdr=phdr,
        phnum=elf.e_phnum,
        phent=elf.e_phentsize,
        bias=bias,
        lo=lo + bias,
        hi=hi + bias,
        interp=interp,
        start_code=min((h.p_vaddr for h in code), default=lo) + bias,
        end_code=max((h.p_vaddr + h.p_filesz for h in code), default=lo) + bias,
        start_data=min((h.p_vaddr for h in datas), default=hi) + bias,
        end_data=max((h.p_vaddr + h.p_filesz for h in datas), default=hi) + bias,
    )


@dataclass(slots=True)
class Creds:
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0


def load_program(
    mm: AddressSpace,
    prog: Program,
    envp: Sequence[bytes],
    read_file: ReadFile,
    creds: Creds,
    execfn: bytes | None = None,
) -> tuple[int, int]:
    """Load ``prog`` (and its interpreter) into the empty ``mm`` and build the initial stack.

    Returns (rip, rsp) for the new image."""
    what = prog.path.decode(errors="replace")
    main = load_elf(mm, prog.data, what, main=True, path=prog.path)
    base = 0
    entry = main.entry
    if main.interp is not None:
        try:
            idata = read_file(main.interp)
        except FsError as exc:
            if exc.errno == errno.ENOENT:
                # execve reports the interpreter's absence as ENOENT, like Linux
                name = main.interp.decode(errors="replace")
                raise ExecError(errno.ENOENT, f"{what}: interpreter {name} not found") from None
            raise
        interp = load_elf(mm, idata, main.interp.decode(errors="replace"), main=False, path=main.interp)
        base = interp.lo
        entry = interp.entry
    mm.set_brk_start(main.hi)
    mm.start_code, mm.end_code = main.start_code, main.end_code
    mm.start_data, mm.end_data = main.start_data, main.end_data
    stack = mm.map_stack()
    rsp = build_stack(mm, stack.end, prog.argv, list(envp), execfn or prog.path, main, base, creds)
    return entry, rsp


def build_stack(
    mm: AddressSpace,
    top: int,
    argv: list[bytes],
    envp: list[bytes],
    execfn: bytes,
    main: ElfImage,
    base: int,
    creds: Creds,
) -> int:
    """The initial process stack of fs/binfmt_elf.c create_elf_tables (from the top down: execfn,
    environment and argument strings, platform string, AT_RANDOM bytes, then auxv, envp, argv, argc)."""
    for s in (*argv, *envp):
        if len(s) + 1 > MAX_ARG_STRLEN:
            raise FsError(errno.E2BIG)
    if sum(len(s) + 1 for s in (*argv, *envp)) > (8 << 20) // 4:
        raise FsError(errno.E2BIG)
    p = top - 8
    p -= len(execfn) + 1
    execfn_addr = p
    strings = b"".join(s + b"\0" for s in (*argv, *envp))
    p -= len(strings)
    strings_addr = p
    ptrs = []
    q = strings_addr
    for s in (*argv, *envp):
        ptrs.append(q)
        q += len(s) + 1
    platform = b"x86_64\0"
    p -= len(platform)
    platform_addr = p
    p &= ~15
    p -= 16
    random_addr = p
    auxv = [
        (AT_HWCAP, HWCAP), (AT_PAGESZ, PAGE_SIZE), (AT_CLKTCK, 100), (AT_PHDR, main.phdr),
        (AT_PHENT, main.phent), (AT_PHNUM, main.phnum), (AT_BASE, base), (AT_FLAGS, 0),
        (AT_ENTRY, main.entry), (AT_UID, creds.uid), (AT_EUID, creds.euid), (AT_GID, creds.gid),
        (AT_EGID, creds.egid), (AT_SECURE, 0), (AT_RANDOM, random_addr), (AT_HWCAP2, HWCAP2),
        (AT_EXECFN, execfn_addr), (AT_PLATFORM, platform_addr), (AT_NULL, 0),
    ]  # fmt: skip
    items = 1 + len(argv) + 1 + len(envp) + 1 + 2 * len(auxv)
    sp = (p - items * 8) & ~15
    words = [len(argv), *ptrs[: len(argv)], 0, *ptrs[len(argv) :], 0]
    for k, v in auxv:
        words += [k, v]
    table = struct.pack(f"<{len(words)}Q", *words)
    # more than the initial stack: grow it now (the strings may be up to a quarter of RLIMIT_STACK)
    if mm.stack_vma is not None and sp < mm.stack_vma.start and not mm.grow_stack(sp):
        raise FsError(errno.E2BIG)
    mm.write(sp, table)
    mm.write(random_addr, os.urandom(16))
    mm.write(platform_addr, platform)
    mm.write(strings_addr, strings)
    mm.write(execfn_addr, execfn + b"\0")
    mm.start_stack = sp
    mm.arg_start = strings_addr
    mm.arg_end = ptrs[len(argv)] if len(envp) else strings_addr + len(strings)
    mm.env_start = mm.arg_end
    mm.env_end = strings_addr + len(strings)
    mm.auxv = struct.pack(f"<{2 * len(auxv)}Q", *(x for kv in auxv for x in kv))
    return sp
