"""A guest address space (Linux's mm_struct): VMAs over host mmap buffers, brk, stack growth, fork copies,
and the checked guest-memory accessors every syscall uses (a bad pointer is FsError(EFAULT)).

Each VMA is a window [start, end) onto a host buffer (``Buffer``: an anonymous host mmap). Buffers are
mapped into the Uc at private physical addresses; the TLB-fill table in C maps guest pages onto them
with the VMA's permissions. Splitting a VMA (munmap/mprotect of part of it) only splits the window; the
buffer is unmapped when no VMA uses it. MAP_SHARED buffers are the same host memory in every address
space that maps them (fork keeps them shared); private buffers are copied at fork (resident pages only).
"""

from __future__ import annotations

import bisect
import ctypes
import errno
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from emulator.cpu import Cpu, Dispatcher
from lxfs.vfs.errors import FsError

PAGE_SIZE = 4096
PAGE_MASK = ~(PAGE_SIZE - 1)
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
PROT_MASK = 7
TASK_SIZE = 0x7FFF_FFFF_F000  # top of user space (arch/x86/include/asm/page_64_types.h)
STACK_TOP = TASK_SIZE
STACK_RESERVE = 8 << 20  # RLIMIT_STACK's default; stack growth happens inside this reservation
STACK_INITIAL = 132 << 10
MMAP_BASE = 0x7FFF_F000_0000 - STACK_RESERVE - (1 << 28)  # below the stack gap, as mmap_base()
HEAP_RESERVE = 256 << 20  # brk beyond this fails and malloc falls back to mmap, as under a low RLIMIT_DATA
MMAP_MIN_ADDR = 0x10000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.memcmp.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
_MADV_DONTNEED = 4
_RESIDENT_BIT = bytes(i & 1 for i in range(256))  # mincore(2): the other bits are reserved


def page_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) & PAGE_MASK


class FileBacking:
    """What a file mapping remembers of its file (for /proc maps and MAP_SHARED write-back)."""

    dev: int = 0
    ino: int = 0
    path: bytes = b""

    def writeback(self, offset: int, data: bytes) -> None:
        """Store ``data`` at ``offset`` of the file (MAP_SHARED on msync/munmap)."""


class Buffer:
    """A host anonymous mapping holding guest memory; shared by every VMA (in any address space) on it."""

    __slots__ = ("__weakref__", "addr", "host", "shared", "size", "users", "view")

    def __init__(self, size: int, shared: bool = False) -> None:
        self.size = size
        self.shared = shared
        self.host = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0))
        self.view = memoryview(self.host)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.host))
        self.users = 0  # address spaces that map it

    def copy(self) -> Buffer:
        """A private copy with the same contents; only pages the host has resident are copied."""
        new = Buffer(self.size, self.shared)
        vec = ctypes.create_string_buffer(self.size // PAGE_SIZE)
        if _libc.mincore(self.addr, self.size, vec) != 0:
            new.view[:] = self.view
            return new
        # runs of resident pages (bit 0 of each byte), found with memchr-speed bytes.find: a regular
        # expression took 1.2 ms over a 256 MiB heap reservation's 65,536 bytes
        resident = vec.raw.translate(_RESIDENT_BIT)
        end = 0
        while (start := resident.find(1, end)) >= 0:
            end = resident.find(0, start)
            if end < 0:
                end = len(resident)
            a, b = start * PAGE_SIZE, end * PAGE_SIZE
            ctypes.memmove(new.addr + a, self.addr + a, b - a)
        return new

    def starts_with(self, data: bytes) -> bool:
        """Whether the buffer begins with ``data`` (one memcmp)."""
        return len(data) <= self.size and _libc.memcmp(self.addr, data, len(data)) == 0

    def zero(self, offset: int, length: int) -> None:
        """Give the pages back to the host: they read as zeros again."""
        _libc.madvise(self.addr + offset, length, _MADV_DONTNEED)

    def release(self) -> None:
        self.view.release()
        try:
            self.host.close()
        except BufferError:  # a view is still exported (a live memoryview slice); the GC frees it
            pass


@dataclass(slots=True)
class Vma:
    """[start, end) with protection, mapped onto ``buf`` at ``boff``; name and file for /proc maps."""

    start: int
    end: int
    prot: int
    shared: bool
    buf: Buffer
    boff: int
    name: bytes = b""
    offset: int = 0  # file offset of ``start`` (file mappings)
    file: FileBacking | None = None
    kind: str = ""  # "heap", "stack" or "" (growth rules)

    def perms(self) -> str:
        p = self.prot
        return (
            ("r" if p & PROT_READ else "-")
            + ("w" if p & PROT_WRITE else "-")
            + ("x" if p & PROT_EXEC else "-")
            + ("s" if self.shared else "p")
        )


@dataclass(slots=True)
class _Phys:
    phys: int
    refs: int = 0


@dataclass
class AddressSpace:
    """The memory of one or more tasks (threads, vfork children): VMAs, brk and the Cpu that runs them."""

    dispatcher: Dispatcher
    cpu: Cpu = field(init=False)
    vmas: list[Vma] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _phys: dict[int, _Phys] = field(default_factory=dict)  # id(buffer) -> its physical mapping here
    brk_start: int = 0
    brk: int = 0
    stack_vma: Vma | None = None
    loaded: object | None = None  # the Task whose registers are in the Cpu now
    users: int = 1  # processes using it (vfork / CLONE_VM)
    # for /proc/PID/stat and status
    start_code: int = 0
    end_code: int = 0
    start_data: int = 0
    end_data: int = 0
    start_stack: int = 0
    arg_start: int = 0
    arg_end: int = 0
    env_start: int = 0
    env_end: int = 0
    auxv: bytes = b""
    on_change: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cpu = Cpu(self.dispatcher)

    # -- lookup -------------------------------------------------------------------------------------

    def find(self, addr: int) -> Vma | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            v = self.vmas[i]
            if addr < v.end:
                return v
        return None

    def _overlapping(self, start: int, end: int) -> list[Vma]:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        for v in self.vmas[i:]:
            if v.start >= end:
                break
            if v.end > start:
                out.append(v)
        return out

    def _sync(self) -> None:
        self.vmas.sort(key=lambda v: v.start)
        self._starts = [v.start for v in self.vmas]
        self.cpu.set_areas([(v.start, v.end, self._phys[id(v.buf)].phys + v.boff, v.prot) for v in self.vmas if v.prot])

    def _attach(self, buf: Buffer) -> None:
        p = self._phys.get(id(buf))
        if p is None:
            p = self._phys[id(buf)] = _Phys(self.cpu.map_phys(buf.addr, buf.size))
            buf.users += 1
        p.refs += 1

    def _detach(self, buf: Buffer) -> None:
        p = self._phys[id(buf)]
        p.refs -= 1
        if p.refs == 0:
            del self._phys[id(buf)]
            self.cpu.unmap_phys(p.phys, buf.size)
            buf.users -= 1
            if buf.users == 0:
                buf.release()

    # -- checked guest memory access (lxfs.vfs.interfaces.GuestMemory) ------------------------------

    def _chunks(self, addr: int, size: int, need: int) -> Iterator[tuple[Vma, int, int]]:
        """(vma, offset in its buffer, length) pieces covering [addr, addr+size), or EFAULT."""
        if addr < 0 or addr + size > TASK_SIZE:
            raise FsError(errno.EFAULT)
        while size > 0:
            v = self.find(addr)
            if v is None or not v.prot & need:
                raise FsError(errno.EFAULT)
            n = min(size, v.end - addr)
            yield v, v.boff + addr - v.start, n
            addr += n
            size -= n

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        v = self.find(addr)
        if v is not None and v.prot & PROT_READ and addr + size <= v.end:  # the common case: one VMA
            off = v.boff + addr - v.start
            return bytes(v.buf.view[off : off + size])
        return b"".join(bytes(v.buf.view[o : o + n]) for v, o, n in self._chunks(addr, size, PROT_READ))

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        size = len(data)
        if size == 0:
            return
        pos = 0
        for v, o, n in list(self._chunks(addr, size, PROT_WRITE)):
            v.buf.view[o : o + n] = data[pos : pos + n]
            pos += n

    def write_kernel(self, addr: int, data: bytes) -> None:
        """Write ignoring protection (loading an image, like the kernel's own mapping of pages)."""
        pos = 0
        for v, o, n in list(self._chunks(addr, len(data), PROT_MASK)):
            v.buf.view[o : o + n] = data[pos : pos + n]
            pos += n

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def read_i32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little", signed=True)

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little"))

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string; ENAMETOOLONG if no NUL within ``limit`` bytes."""
        out = bytearray()
        while len(out) < limit:
            v = self.find(addr)
            if v is None or not v.prot & PROT_READ:
                raise FsError(errno.EFAULT)
            off = v.boff + addr - v.start
            n = min(v.end - addr, limit - len(out), 4096)
            chunk = v.buf.view[off : off + n]
            nul = bytes(chunk).find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
            addr += n
        raise FsError(errno.ENAMETOOLONG)

    def read_pointer_array(self, addr: int, limit: int = 1 << 17) -> list[int]:
        """A NULL-terminated array of pointers (argv, envp); E2BIG past ``limit`` entries."""
        out: list[int] = []
        while True:
            p = self.read_u64(addr)
            if p == 0:
                return out
            out.append(p)
            if len(out) > limit:
                raise FsError(errno.E2BIG)
            addr += 8

    def check(self, addr: int, size: int, writable: bool = False) -> None:
        """EFAULT unless [addr, addr+size) is accessible."""
        for _ in self._chunks(addr, size, PROT_WRITE if writable else PROT_READ):
            pass

    # -- mapping ---------------------------------------------------------------------------------------

    def is_free(self, start: int, end: int) -> bool:
        return start >= MMAP_MIN_ADDR and end <= TASK_SIZE and not self._overlapping(start, end)

    def find_free(self, length: int, hint: int = 0) -> int:
        """Top-down search below MMAP_BASE, as Linux's default mmap layout; a free hint wins."""
        if hint:
            hint = hint & PAGE_MASK
            if self.is_free(hint, hint + length):
                return hint
        top = MMAP_BASE
        for v in reversed(self.vmas):
            if v.start >= top:
                continue
            if v.end <= top - length:
                return top - length
            top = v.start
        if top - length >= MMAP_MIN_ADDR:
            return top - length
        raise FsError(errno.ENOMEM)

    def map(
        self,
        addr: int,
        length: int,
        prot: int,
        *,
        shared: bool = False,
        fixed: bool = False,
        name: bytes = b"",
        data: bytes | None = None,
        offset: int = 0,
        file: FileBacking | None = None,
        buf: Buffer | None = None,
        boff: int = 0,
        kind: str = "",
    ) -> Vma:
        """A new mapping; ``fixed`` replaces whatever was at [addr, addr+length)."""
        length = page_up(length)
        if length == 0:
            raise FsError(errno.EINVAL)
        if fixed:
            if addr & ~PAGE_MASK or addr + length > TASK_SIZE:
                raise FsError(errno.EINVAL)
            self.unmap(addr, length)
        else:
            addr = self.find_free(length, addr)
        if buf is None:
            buf = Buffer(length, shared)
        if data:
            buf.view[boff : boff + min(len(data), length)] = data[:length]
        self._attach(buf)
        vma = Vma(addr, addr + length, prot & PROT_MASK, shared, buf, boff, name, offset, file, kind)
        self.vmas.append(vma)
        self._sync()
        return vma

    def _split(self, start: int, end: int) -> list[Vma]:
        """Split VMAs so that start and end fall on boundaries; return the VMAs inside [start, end)."""
        inside = []
        for v in self._overlapping(start, end):
            for cut in (start, end):
                if v.start < cut < v.end:
                    right = Vma(
                        cut, v.end, v.prot, v.shared, v.buf, v.boff + cut - v.start, v.name,
                        v.offset + cut - v.start, v.file, v.kind,
                    )  # fmt: skip
                    self._attach(v.buf)
                    v.end = cut
                    self.vmas.append(right)
                    if cut == start:
                        v = right
            inside.append(v)
        self.vmas.sort(key=lambda v: v.start)
        self._starts = [v.start for v in self.vmas]
        return [v for v in self._overlapping(start, end)]

    def unmap(self, addr: int, length: int) -> None:
        if addr & ~PAGE_MASK:
            raise FsError(errno.EINVAL)
        end = addr + page_up(length)
        victims = self._split(addr, end)
        if not victims:
            return
        for v in victims:
            self.writeback(v)
            self.vmas.remove(v)
            if v is self.stack_vma:
                self.stack_vma = None
            self._detach(v.buf)
        self._sync()

    def protect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2): ENOMEM if any page in the range is unmapped."""
        if addr & ~PAGE_MASK:
            raise FsError(errno.EINVAL)
        end = addr + page_up(length)
        pos = addr
        for v in self._overlapping(addr, end):
            if v.start > pos:
                raise FsError(errno.ENOMEM)
            pos = v.end
        if pos < end:
            raise FsError(errno.ENOMEM)
        for v in self._split(addr, end):
            if prot & PROT_WRITE:
                self.unshare(v.buf)
            v.prot = prot & PROT_MASK
        # _sync flushes the TLB, and with it QEMU's jump cache: a page that lost PROT_EXEC faults on the next
        # fetch. (ctl_remove_cache would itself walk the TLB and fault on non-executable pages.)
        self._sync()

    def unshare(self, buf: Buffer) -> None:
        """Before this address space may write a private buffer that fork left shared with another one
        (read-only in both), give it its own copy."""
        if buf.shared or buf.users < 2:
            return
        copy = buf.copy()
        for v in self.vmas:
            if v.buf is buf:
                self._attach(copy)
                v.buf = copy
                self._detach(buf)
        self._sync()

    def writeback(self, v: Vma, start: int | None = None, end: int | None = None) -> None:
        """MAP_SHARED file mappings: store the pages back into the file."""
        if v.shared and v.file is not None:
            s = v.start if start is None else max(start, v.start)
            e = v.end if end is None else min(end, v.end)
            if s < e:
                off = v.boff + s - v.start
                v.file.writeback(v.offset + s - v.start, bytes(v.buf.view[off : off + e - s]))

    # -- brk and stack ---------------------------------------------------------------------------------

    def set_brk_start(self, addr: int) -> None:
        self.brk_start = self.brk = page_up(addr)

    def do_brk(self, new: int) -> int:
        """brk(2): returns the new break, or the old one when the request cannot be met."""
        if new < self.brk_start:
            return self.brk
        heap = self.find(self.brk_start) if self.brk > self.brk_start else None
        new_end = page_up(new)
        old_end = page_up(self.brk)
        if new_end > old_end:
            if not self.is_free(old_end, new_end):
                return self.brk
            if heap is None:
                if new_end - self.brk_start > HEAP_RESERVE:
                    return self.brk
                buf = Buffer(HEAP_RESERVE)
                heap = self.map(self.brk_start, new_end - self.brk_start, PROT_READ | PROT_WRITE, fixed=True,
                                name=b"[heap]", buf=buf, kind="heap")  # fmt: skip
            elif heap.boff + new_end - heap.start > heap.buf.size:
                return self.brk
            else:
                heap.end = new_end
                self._sync()
        elif new_end < old_end and heap is not None:
            if new_end == heap.start:
                self.unmap(heap.start, heap.end - heap.start)
            else:
                heap.buf.zero(heap.boff + new_end - heap.start, heap.end - new_end)
                heap.end = new_end
                self._sync()
        self.brk = new
        return new

    def map_stack(self) -> Vma:
        buf = Buffer(STACK_RESERVE)
        vma = self.map(
            STACK_TOP - STACK_INITIAL, STACK_INITIAL, PROT_READ | PROT_WRITE, fixed=True, name=b"[stack]",
            buf=buf, boff=STACK_RESERVE - STACK_INITIAL, kind="stack",
        )  # fmt: skip
        self.stack_vma = vma
        return vma

    def grow_stack(self, addr: int) -> bool:
        """A fault below the stack inside its reservation grows it (Linux's expand_stack)."""
        v = self.stack_vma
        if v is None or addr >= v.start:
            return False
        new_start = addr & PAGE_MASK
        reserve_start = v.start - v.boff
        if new_start < reserve_start or not self.is_free(new_start, v.start):
            return False
        v.boff -= v.start - new_start
        v.start = new_start
        self._sync()
        return True

    # -- fork and teardown -------------------------------------------------------------------------------

    def fork(self) -> AddressSpace:
        """A copy for fork(2): private buffers copied, shared ones shared. A private buffer no VMA maps
        writable (program text, read-only data) is shared too, until either side asks to write it
        (unshare: Linux's copy-on-write, taken at mprotect/madvise time since nothing else can write a
        page without PROT_WRITE). A busybox fork copied 1.5 MiB of text for nothing before."""
        child = AddressSpace(self.dispatcher)
        writable = {id(v.buf) for v in self.vmas if v.prot & PROT_WRITE and not v.buf.shared}
        copies: dict[int, Buffer] = {}
        for v in self.vmas:
            buf = v.buf
            if not buf.shared and id(buf) in writable:
                if id(buf) not in copies:
                    copies[id(buf)] = buf.copy()
                buf = copies[id(buf)]
            child._attach(buf)
            nv = Vma(v.start, v.end, v.prot, v.shared, buf, v.boff, v.name, v.offset, v.file, v.kind)
            child.vmas.append(nv)
            if v is self.stack_vma:
                child.stack_vma = nv
        child.brk_start, child.brk = self.brk_start, self.brk
        for name in ("start_code", "end_code", "start_data", "end_data", "start_stack", "arg_start", "arg_end",
                     "env_start", "env_end", "auxv"):  # fmt: skip
            setattr(child, name, getattr(self, name))
        child._sync()
        return child

    def destroy(self) -> None:
        """The last user is gone: write shared file pages back and free the buffers. The Uc goes away
        whole, so its physical regions are not unmapped one by one (uc_mem_unmap walks every page of a
        region to invalidate translations: 15 ms for the heap reservation)."""
        for v in self.vmas:
            self.writeback(v)
        self.cpu.close()
        for p_id, _p in list(self._phys.items()):
            del self._phys[p_id]
        bufs = {id(v.buf): v.buf for v in self.vmas}
        for buf in bufs.values():
            buf.users -= 1
            if buf.users == 0:
                buf.release()
        self.vmas.clear()
        self._starts.clear()

    def total(self) -> int:
        return sum(v.end - v.start for v in self.vmas)
