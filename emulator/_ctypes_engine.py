"""The pure-ctypes fallback for emulator._fastpath (used when no C compiler built the extension).

Same interface as the C ``Engine``: a syscall hook that reads the seven registers with one
``uc_reg_read_batch`` (bound through PyDLL: no GIL round trip), sets RCX/R11, calls the dispatcher and
writes rax; a TLB-fill hook over the area table; a block hook for precise preemption; a timer thread.
Correct but slower (DESIGN.md: 1.1-1.4 µs per syscall; the Python TLB-fill hook costs most).
"""

from __future__ import annotations

import bisect
import ctypes
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from unicorn import UC_HOOK_BLOCK, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_TLB_FILL, UC_TLB_VIRTUAL
from unicorn import x86_const as X
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH, UC_CTL_TLB_TYPE
from unicorn.unicorn_py3 import unicorn as ucmod

_lib = ucmod.uclib
_py = ctypes.PyDLL(_lib._name)  # same library; calls keep the GIL (we are inside a callback)
_py.uc_reg_read_batch.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_void_p),
                                  ctypes.c_int)  # fmt: skip
_py.uc_reg_read_batch.restype = ctypes.c_int
_py.uc_reg_write.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_py.uc_reg_write.restype = ctypes.c_int
_py.uc_reg_write_batch.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_void_p),
                                   ctypes.c_int)  # fmt: skip
_py.uc_reg_write_batch.restype = ctypes.c_int
_py.uc_emu_stop.argtypes = (ctypes.c_void_p,)
_py.uc_hook_add.restype = ctypes.c_int
_py.uc_hook_del.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_py.uc_ctl.restype = ctypes.c_int
_py.uc_mem_unmap.argtypes = (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
_lib_emu_start = _lib.uc_emu_start  # CDLL: releases the GIL while the guest runs

SYSCALL_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class _TlbEntry(ctypes.Structure):
    _fields_ = (("paddr", ctypes.c_uint64), ("perms", ctypes.c_int))


TLB_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.POINTER(_TlbEntry),
                          ctypes.c_void_p)  # fmt: skip
BLOCK_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)

_SYSCALL_REGS = (X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_R10,
                 X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS)  # fmt: skip
UC_MEM_WRITE, UC_MEM_FETCH = 17, 18
PHYS_WINDOW = 1 << 47
UC_CTL_TLB_FLUSH_W = UC_CTL_TLB_FLUSH | (0 << 26) | (UC_CTL_IO_WRITE << 30)  # UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0)
UC_CTL_TLB_TYPE_W = UC_CTL_TLB_TYPE | (1 << 26) | (UC_CTL_IO_WRITE << 30)  # UC_CTL_WRITE(UC_CTL_TLB_TYPE, 1)

_running: Engine | None = None
_timer: threading.Thread | None = None
_interval = 0.004


class Engine:
    def __init__(self, handle: int, dispatcher: Callable[..., Any]) -> None:
        self.uc = ctypes.c_void_p(handle)
        self.dispatcher = dispatcher
        self.syscalls = 0
        self._sys_ns = 0
        self.preempt = False
        self.fault_addr = 0
        self.fault_type = 0
        self._intno = -1
        self.probe = (0, 0)
        self.phys_window = False
        self.starts: list[int] = []
        self.areas: list[tuple[int, int, int, int]] = []
        self.exc: BaseException | None = None
        n = len(_SYSCALL_REGS)
        self._ids = (ctypes.c_int * n)(*_SYSCALL_REGS)
        self._vals = (ctypes.c_uint64 * n)()
        self._ptrs = (ctypes.c_void_p * n)(*(ctypes.addressof(self._vals) + 8 * i for i in range(n)))
        self._u64 = ctypes.c_uint64()
        self._cbs = (SYSCALL_CB(self._on_syscall), TLB_CB(self._on_fill), BLOCK_CB(self._on_block),
                     INTR_CB(self._on_intr))  # fmt: skip
        self._hooks: list[ctypes.c_size_t] = []
        _py.uc_ctl(self.uc, ctypes.c_int(UC_CTL_TLB_TYPE_W), ctypes.c_int(UC_TLB_VIRTUAL))
        self._add(
            UC_HOOK_INSN, self._cbs[0], ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(X.UC_X86_INS_SYSCALL)
        )
        self._add(UC_HOOK_TLB_FILL, self._cbs[1], ctypes.c_uint64(1), ctypes.c_uint64(0))
        self._add(UC_HOOK_BLOCK, self._cbs[2], ctypes.c_uint64(1), ctypes.c_uint64(0))
        self._add(UC_HOOK_INTR, self._cbs[3], ctypes.c_uint64(1), ctypes.c_uint64(0))

    def _add(self, kind: int, cb: Any, *args: Any) -> None:
        h = ctypes.c_size_t()
        err = _py.uc_hook_add(self.uc, ctypes.byref(h), ctypes.c_int(kind), ctypes.cast(cb, ctypes.c_void_p),
                              ctypes.c_void_p(0), *args)  # fmt: skip
        if err:
            raise RuntimeError(f"uc_hook_add({kind}) failed: {err}")
        self._hooks.append(h)

    # -- hooks -------------------------------------------------------------------------------------

    def _on_syscall(self, uc: int, data: int) -> None:
        v = self._vals
        _py.uc_reg_read_batch(self.uc, self._ids, self._ptrs, len(_SYSCALL_REGS))
        self._u64.value = v[7] + 2
        _py.uc_reg_write(self.uc, X.UC_X86_REG_RCX, ctypes.byref(self._u64))
        self._u64.value = v[8]
        _py.uc_reg_write(self.uc, X.UC_X86_REG_R11, ctypes.byref(self._u64))
        self.syscalls += 1
        t0 = time.perf_counter_ns()
        try:
            ret = self.dispatcher(v[0], v[1], v[2], v[3], v[4], v[5], v[6])
        except BaseException as exc:  # a kernel bug: re-raised by emu_start
            if self.exc is None:
                self.exc = exc
            _py.uc_emu_stop(self.uc)
            return
        finally:
            self._sys_ns += time.perf_counter_ns() - t0
        if ret is not None:
            self._u64.value = ret & 0xFFFF_FFFF_FFFF_FFFF
            _py.uc_reg_write(self.uc, X.UC_X86_REG_RAX, ctypes.byref(self._u64))

    def _on_fill(self, uc: int, vaddr: int, kind: int, entry: Any, data: int) -> bool:
        page = vaddr & ~0xFFF
        if self.phys_window and vaddr >= PHYS_WINDOW:
            entry[0].paddr, entry[0].perms = page, 7
            return True
        if self.probe[1] and page == self.probe[0]:
            entry[0].paddr, entry[0].perms = self.probe[1], 7
            return True
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0:
            start, end, phys, prot = self.areas[i]
            need = 4 if kind == UC_MEM_FETCH else 2 if kind == UC_MEM_WRITE else 1
            if vaddr < end and prot & need:
                entry[0].paddr = phys + page - start
                entry[0].perms = prot & (5 if kind == UC_MEM_FETCH else 3)
                return True
        self.fault_addr, self.fault_type = vaddr, kind
        return False

    def _on_block(self, uc: int, address: int, size: int, data: int) -> None:
        if self.preempt:
            self.preempt = False
            _py.uc_emu_stop(self.uc)

    def _on_intr(self, uc: int, intno: int, data: int) -> None:
        self._intno = intno
        _py.uc_emu_stop(self.uc)

    # -- the C Engine's methods --------------------------------------------------------------------

    def close(self) -> None:
        for h in self._hooks:
            _py.uc_hook_del(self.uc, h)
        self._hooks.clear()

    def set_areas(self, packed: bytes) -> None:
        self.areas = [tuple(q) for q in struct.iter_unpack("<4Q", packed)]
        self.starts = [a[0] for a in self.areas]
        self.flush_tlb()

    def flush_tlb(self) -> None:
        _py.uc_ctl(self.uc, ctypes.c_int(UC_CTL_TLB_FLUSH_W))

    def emu_start(self, pc: int) -> int:
        global _running
        self.fault_addr = self.fault_type = 0
        self._intno = -1
        self.preempt = False
        _running = self
        try:
            err = _lib_emu_start(self.uc, ctypes.c_uint64(pc), ctypes.c_uint64(0), ctypes.c_uint64(0),
                                 ctypes.c_size_t(0))  # fmt: skip
        finally:
            _running = None
        if self.exc is not None:
            exc, self.exc = self.exc, None
            raise exc
        return int(err)

    def sys_ns(self) -> int:
        """Nanoseconds spent in the dispatcher so far (the guest's system time)."""
        return self._sys_ns

    def stop(self) -> None:
        _py.uc_emu_stop(self.uc)

    def fault(self) -> tuple[int, int]:
        return self.fault_addr, self.fault_type

    def intno(self) -> int:
        return self._intno

    def set_probe(self, page: int, phys: int) -> None:
        self.probe = (page, phys)
        self.flush_tlb()

    def unmap_phys(self, phys: int, size: int) -> None:
        self.phys_window = True
        try:
            err = _py.uc_mem_unmap(self.uc, phys, size)
        finally:
            self.phys_window = False
        self.flush_tlb()
        if err:
            raise RuntimeError(f"uc_mem_unmap failed: {err}")

    def reg_read(self, ids: Sequence[int]) -> list[int]:
        n = len(ids)
        vals = (ctypes.c_uint64 * n)()
        ptrs = (ctypes.c_void_p * n)(*(ctypes.addressof(vals) + 8 * i for i in range(n)))
        _py.uc_reg_read_batch(self.uc, (ctypes.c_int * n)(*ids), ptrs, n)
        return list(vals)

    def reg_write(self, ids: Sequence[int], values: Sequence[int]) -> None:
        n = len(ids)
        vals = (ctypes.c_uint64 * n)(*(v & 0xFFFF_FFFF_FFFF_FFFF for v in values))
        ptrs = (ctypes.c_void_p * n)(*(ctypes.addressof(vals) + 8 * i for i in range(n)))
        _py.uc_reg_write_batch(self.uc, (ctypes.c_int * n)(*ids), ptrs, n)


def _tick() -> None:
    while _timer is not None:
        time.sleep(_interval)
        eng = _running
        if eng is not None:
            eng.preempt = True


def set_precise_stop(flag: bool) -> bool:
    """The ctypes engine always preempts through its block hook."""
    return False


def start_timer(interval_us: int) -> None:
    global _timer, _interval
    _interval = max(interval_us, 100) / 1e6
    if _timer is None:
        _timer = threading.Thread(target=_tick, name="lxfs-preempt", daemon=True)
        _timer.start()


def stop_timer() -> None:
    global _timer
    _timer = None
