"""Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise, msync, mlock and friends."""

from __future__ import annotations

import errno
import weakref
from typing import TYPE_CHECKING, Any

from emulator.memory import PAGE_MASK, PAGE_SIZE, PROT_MASK, TASK_SIZE, Buffer, FileBacking, page_up
from emulator.syscalls.table import s32, syscall
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Task

# include/uapi/asm-generic/mman-common.h, mman.h
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_TYPE = 0x01, 0x02, 0x03, 0x0F
MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE = 0x10, 0x20, 0x100, 0x800, 0x1000
MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB = (
    0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000,
)  # fmt: skip
MAP_SYNC, MAP_FIXED_NOREPLACE, MAP_32BIT = 0x80000, 0x100000, 0x40
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_FREE, MADV_REMOVE = 4, 8, 9
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4
PROT_GROWSDOWN, PROT_GROWSUP = 0x01000000, 0x02000000


class MappedFile(FileBacking):
    """A file mapping's link back to its open file (the file side supplies read/write callables)."""

    def __init__(self, file: Any, dev: int, ino: int, path: bytes, write: Any) -> None:
        self.file = file
        self.dev, self.ino, self.path = dev, ino, path
        self._write = write

    def writeback(self, offset: int, data: bytes) -> None:
        if self._write is not None:
            self._write(offset, data)


# The file side installs this: (task, fd, offset, length, prot, shared) -> (data, MappedFile) or raises
# FsError (EBADF, EACCES, ENODEV ...). Until it does, file mappings fail with ENODEV.
file_mapper: Any = None


@syscall("brk", "ptr", ret="ptr")
def sys_brk(task: Task, addr: int) -> int:
    return task.process.mm.do_brk(addr)


@syscall("mmap", "ptr", "size", "mmap_prot", "mmap_flags", "fd", "size", ret="ptr")
def sys_mmap(task: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    mm = task.process.mm
    kind = flags & MAP_TYPE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise FsError(errno.EINVAL)
    if length == 0 or offset & ~PAGE_MASK:
        raise FsError(errno.EINVAL)
    size = page_up(length)
    if size == 0 or size > TASK_SIZE:
        raise FsError(errno.ENOMEM)
    if prot & ~PROT_MASK:
        raise FsError(errno.EINVAL)
    fixed = bool(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
    if fixed and addr & ~PAGE_MASK:
        raise FsError(errno.EINVAL)
    if fixed and (addr + size > TASK_SIZE or addr < 0x1000):
        raise FsError(errno.ENOMEM if addr + size > TASK_SIZE else errno.EPERM)
    if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED and not mm.is_free(addr, addr + size):
        raise FsError(errno.EEXIST)
    shared = kind != MAP_PRIVATE
    if flags & MAP_ANONYMOUS:
        vma = mm.map(addr, size, prot, shared=shared, fixed=fixed, name=b"/dev/zero (deleted)" if shared else b"")
        if shared:
            vma.name = b"/dev/zero (deleted)"
        return vma.start
    if file_mapper is None:
        raise FsError(errno.ENODEV)
    data, backing = file_mapper(task, s32(fd), offset, size, prot, shared)
    buf = None
    if shared:
        # MAP_SHARED of the same file range shares one buffer across mmaps and processes (our page
        # cache): what one writes, the other reads, before any write-back
        key = (backing.dev, backing.ino, offset, size)
        cache = _shared_pages(task)
        buf = cache.get(key) if backing.ino else None
        if buf is not None and buf.users > 0:
            data = None
        else:
            buf = Buffer(size, True)
            if backing.ino:
                cache[key] = buf
    vma = mm.map(addr, size, prot, shared=shared, fixed=fixed, data=data, offset=offset, file=backing,
                 name=backing.path, buf=buf)  # fmt: skip
    return vma.start


def _shared_pages(task: Task) -> weakref.WeakValueDictionary[tuple[int, int, int, int], Buffer]:
    k = task.kernel
    cache = getattr(k, "shared_file_pages", None)
    if cache is None:
        cache = k.shared_file_pages = weakref.WeakValueDictionary()  # type: ignore[attr-defined]
    return cache


@syscall("munmap", "ptr", "size")
def sys_munmap(task: Task, addr: int, length: int) -> int:
    if addr & ~PAGE_MASK or length == 0 or addr + length > TASK_SIZE:
        raise FsError(errno.EINVAL)
    task.process.mm.unmap(addr, length)
    return 0


@syscall("mprotect", "ptr", "size", "mmap_prot")
def sys_mprotect(task: Task, addr: int, length: int, prot: int) -> int:
    if addr & ~PAGE_MASK:
        raise FsError(errno.EINVAL)
    if prot & ~(PROT_MASK | PROT_GROWSDOWN | PROT_GROWSUP):
        raise FsError(errno.EINVAL)
    if length == 0:
        return 0
    task.process.mm.protect(addr, length, prot & PROT_MASK)
    return 0


@syscall("mremap", "ptr", "size", "size", "hex", "ptr", ret="ptr")
def sys_mremap(task: Task, old: int, old_size: int, new_size: int, flags: int, new_addr: int) -> int:
    """mremap(2). A MAP_SHARED mapping that moves keeps its buffer (the shared object) while the new size
    fits in it, so it stays shared, as Linux moves page tables; growth past it copies into a new buffer
    (then the new place is no longer shared). A private mapping that moves is copied: its buffer may hold
    pages other VMAs of this address space map, which the moved one must not alias."""
    mm = task.process.mm
    if old & ~PAGE_MASK or flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
        raise FsError(errno.EINVAL)
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        raise FsError(errno.EINVAL)
    old_size, new_size = page_up(old_size), page_up(new_size)
    if new_size == 0:
        raise FsError(errno.EINVAL)
    v = mm.find(old)
    if v is None or old + old_size > v.end:
        raise FsError(errno.EFAULT)
    if not flags & MREMAP_FIXED:
        if new_size <= old_size:
            if new_size < old_size:
                mm.unmap(old + new_size, old_size - new_size)
            return old
        if mm.is_free(old + old_size, old + new_size) and v.boff + (old - v.start) + new_size <= v.buf.size:
            # room after it, in the same buffer: grow in place
            grow_off = v.boff + old - v.start + old_size
            if not v.shared:
                # new private pages read as zeros, whatever an earlier munmap left in the reservation
                mm.unshare(v.buf)
                v.buf.zero(grow_off, new_size - old_size)
            mm.map(old + old_size, new_size - old_size, v.prot, shared=v.shared, fixed=True, name=v.name,
                   buf=v.buf, boff=grow_off, file=v.file, kind=v.kind)  # fmt: skip
            return old
        if not flags & MREMAP_MAYMOVE:
            raise FsError(errno.ENOMEM)
    dest = new_addr if flags & MREMAP_FIXED else mm.find_free(new_size)
    if flags & MREMAP_FIXED and (dest & ~PAGE_MASK or (dest < old + old_size and old < dest + new_size)):
        raise FsError(errno.EINVAL)
    prot, name, file, shared, offset = v.prot, v.name, v.file, v.shared, v.offset + old - v.start
    boff = v.boff + old - v.start
    buf = v.buf
    if not v.shared or boff + new_size > buf.size:
        data = bytes(buf.view[boff : boff + old_size])
        buf = Buffer(max(new_size, old_size) * 2 if not v.shared else new_size, v.shared)
        buf.view[: min(old_size, new_size)] = data[: min(old_size, new_size)]
        boff = 0
    buf.users += 1  # held across the unmap (it may be the buffer's last mapping)
    try:
        mm.unmap(old, old_size)
        nv = mm.map(dest, new_size, prot, shared=shared, fixed=True, name=name, buf=buf, boff=boff, file=file,
                    offset=offset)  # fmt: skip
    finally:
        buf.users -= 1
    return nv.start


@syscall("madvise", "ptr", "size", "int")
def sys_madvise(task: Task, addr: int, length: int, advice: int) -> int:
    if addr & ~PAGE_MASK:
        raise FsError(errno.EINVAL)
    mm = task.process.mm
    end = addr + page_up(length)
    if advice in (MADV_DONTNEED, MADV_FREE):
        pos = addr
        while pos < end:
            v = mm.find(pos)
            if v is None:
                raise FsError(errno.ENOMEM)
            n = min(end, v.end) - pos
            if not v.shared:
                mm.unshare(v.buf)  # a fork's read-only sharing ends here, as a write would end it
                v.buf.zero(v.boff + pos - v.start, n)
            pos += n
    return 0


@syscall("msync", "ptr", "size", "hex")
def sys_msync(task: Task, addr: int, length: int, flags: int) -> int:
    if addr & ~PAGE_MASK or flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or (flags & MS_ASYNC and flags & MS_SYNC):
        raise FsError(errno.EINVAL)
    mm = task.process.mm
    end = addr + page_up(length)
    pos = addr
    while pos < end:
        v = mm.find(pos)
        if v is None:
            raise FsError(errno.ENOMEM)
        mm.writeback(v, pos, end)
        pos = v.end
    return 0


def _ok(task: Task, *args: int) -> int:
    return 0


for _name in ("mlock", "munlock"):
    syscall(_name, "ptr", "size")(_ok)
syscall("mlockall", "hex")(_ok)
syscall("munlockall")(_ok)


@syscall("mincore", "ptr", "size", "ptr")
def sys_mincore(task: Task, addr: int, length: int, vec: int) -> int:
    if addr & ~PAGE_MASK:
        raise FsError(errno.EINVAL)
    n = page_up(length) // PAGE_SIZE
    mm = task.process.mm
    for i in range(n):
        if mm.find(addr + i * PAGE_SIZE) is None:
            raise FsError(errno.ENOMEM)
    task.write(vec, b"\1" * n)
    return 0
