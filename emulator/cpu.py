"""The emulated x86-64 CPU of one address space: a Unicorn instance, its C fast path and thread contexts.

DESIGN.md "The emulator": one Uc per address space with the default CPU model, UC_TLB_VIRTUAL with the C
TLB-fill hook, the C syscall trampoline, guest memory mapped from host buffers with ``mem_map_ptr`` at
private "physical" addresses (the TLB-fill table maps virtual pages onto them), Linux's initial FPU state.
Falls back to ctypes hooks (emulator._ctypes_engine) when the extension was not built.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any

from unicorn import UC_ARCH_X86, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MODE_64, UC_PROT_ALL, Uc, UcError
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import UcContext, uclib

_engine: Any
if os.environ.get("LXFS_CTYPES_ENGINE"):  # force the fallback (tests of the fallback itself)
    from emulator import _ctypes_engine as _engine
else:
    try:
        import emulator._fastpath

        _engine = emulator._fastpath
    except ImportError:  # no compiler at install time: the slower pure-ctypes engine (DESIGN.md)
        from emulator import _ctypes_engine as _engine
Engine = _engine.Engine
start_timer = _engine.start_timer
stop_timer = _engine.stop_timer
# The patched libunicorn that setup.py builds (loaded through emulator/__init__.py) stops precisely when the
# timer thread asks: no block hook on every translated block then.
PRECISE_STOP: bool = _engine.set_precise_stop(hasattr(uclib, "lxfs_precise_stop"))

__all__ = ["GPRS", "PRECISE_STOP", "Cpu", "Dispatcher", "start_timer", "stop_timer"]

# Syscall dispatcher: (nr, a0..a5) -> value for rax, or None to leave rax alone.
Dispatcher = Callable[[int, int, int, int, int, int, int], int | None]

# The register state of a new Cpu (zeros, Linux's MXCSR and x87 control word): execve restores it.
_PRISTINE: UcContext | None = None

# uc_err values (unicorn.h) the scheduler tells apart
UC_ERR_OK = 0
UC_ERR_INSN_INVALID = 10
UC_ERR_EXCEPTION = 21
UC_MEM_READ, UC_MEM_WRITE, UC_MEM_FETCH = 16, 17, 18  # uc_mem_type of a failed TLB fill

# The integer registers in struct sigcontext / user_regs order used throughout the kernel.
GPR_NAMES = (
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip", "eflags",
)  # fmt: skip
GPRS = tuple(getattr(X, "UC_X86_REG_" + name.upper()) for name in GPR_NAMES)
FS_BASE = X.UC_X86_REG_FS_BASE
GS_BASE = X.UC_X86_REG_GS_BASE
RIP = X.UC_X86_REG_RIP
RSP = X.UC_X86_REG_RSP
RAX = X.UC_X86_REG_RAX
EFLAGS = X.UC_X86_REG_EFLAGS
XMMS = tuple(getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16))
FPRS = tuple(getattr(X, f"UC_X86_REG_FP{i}") for i in range(8))  # x87 registers, physical order

# Linux's initial FPU state (arch/x86/kernel/fpu/init.c): x87 control word 0x37f, MXCSR 0x1f80.
FCW_DEFAULT = 0x37F
MXCSR_DEFAULT = 0x1F80
EFLAGS_DEFAULT = 0x202  # IF set, as a fresh user task sees it

PHYS_BASE = 1 << 47  # physical addresses are private to a Uc, above user space; handed out upwards


class Cpu:
    """One Unicorn instance (an address space's CPU) with the C fast path installed."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        handle = self.uc._uch.value  # type: ignore[union-attr]
        self.engine = Engine(handle, dispatcher)
        self._next_phys = PHYS_BASE
        self.uc.reg_write(X.UC_X86_REG_MXCSR, MXCSR_DEFAULT)
        self.uc.reg_write(X.UC_X86_REG_FPCW, FCW_DEFAULT)
        global _PRISTINE
        if _PRISTINE is None:
            _PRISTINE = self.uc.context_save()
        self.closed = False
        self._scratch: mmap.mmap | None = None
        self._scratch_phys = 0

    # -- physical memory ------------------------------------------------------------------------

    def map_phys(self, host_addr: int, size: int) -> int:
        """Map a host buffer at a fresh physical address (never reused, so no stale translation can
        match it) and return that address."""
        phys = self._next_phys
        self._next_phys += size + 0x10000  # a guard gap keeps regions apart
        self.uc.mem_map_ptr(phys, size, UC_PROT_ALL, host_addr)
        return phys

    def unmap_phys(self, phys: int, size: int) -> None:
        self.engine.unmap_phys(phys, size)

    def set_areas(self, areas: Sequence[tuple[int, int, int, int]]) -> None:
        """The TLB-fill table: sorted (start, end, phys, prot); also flushes the guest TLB."""
        self.engine.set_areas(b"".join(struct.pack("<4Q", *a) for a in areas))

    def remove_cache(self, start: int, end: int) -> None:
        """Drop translated code for [start, end) (after the kernel wrote into code pages)."""
        self.uc.ctl_remove_cache(start, end)

    # -- registers --------------------------------------------------------------------------------

    def regs(self) -> list[int]:
        """The GPRS (see GPR_NAMES) of the loaded task."""
        return self.engine.reg_read(GPRS)

    def set_regs(self, values: Sequence[int]) -> None:
        self.engine.reg_write(GPRS, values)

    def reg(self, reg_id: int) -> int:
        return self.engine.reg_read((reg_id,))[0]

    def set_reg(self, reg_id: int, value: int) -> None:
        self.engine.reg_write((reg_id,), (value,))

    def reset_state(self, rip: int, rsp: int) -> None:
        """A fresh process image (execve): zero registers, Linux's FPU defaults -- the state of a new Cpu,
        restored from one saved context (a context restores into any x86-64 Uc) instead of ~20 writes."""
        assert _PRISTINE is not None  # saved by the first Cpu
        self.uc.context_restore(_PRISTINE)
        self.engine.reg_write((RIP, RSP, EFLAGS, FS_BASE, GS_BASE), (rip, rsp, EFLAGS_DEFAULT, 0, 0))

    # -- FPU state in fxsave format (for signal frames) --------------------------------------------

    def fxsave(self) -> bytes:
        """The 512-byte FXSAVE image of the x87/SSE state (struct _fpstate_64)."""
        uc = self.uc
        fcw = uc.reg_read(X.UC_X86_REG_FPCW)
        fsw = uc.reg_read(X.UC_X86_REG_FPSW)
        ftw = uc.reg_read(X.UC_X86_REG_FPTAG)
        mxcsr = uc.reg_read(X.UC_X86_REG_MXCSR)
        # abridged tag word: bit i set when ST(i) is not empty (full tag 0b11 = empty)
        abridged = 0
        for i in range(8):
            if (ftw >> (2 * i)) & 3 != 3:
                abridged |= 1 << i
        out = bytearray(512)
        struct.pack_into("<HHBxHQQII", out, 0, fcw, fsw, abridged, 0, 0, 0, mxcsr, 0xFFFF)
        top = (fsw >> 11) & 7
        for i in range(8):  # the image holds ST(0)..ST(7), i.e. physical register (TOP + i) % 8
            mant, exp = uc.reg_read(FPRS[(top + i) & 7])
            struct.pack_into("<QH", out, 32 + 16 * i, mant, exp)
        for i, rid in enumerate(XMMS):
            v = uc.reg_read(rid)
            out[160 + 16 * i : 176 + 16 * i] = v.to_bytes(16, "little")
        return bytes(out)

    def fxrstor(self, image: bytes) -> None:
        uc = self.uc
        fcw, fsw, abridged, _fop, _rip, _rdp, mxcsr, _mask = struct.unpack_from("<HHBxHQQII", image, 0)
        ftw = 0
        for i in range(8):
            ftw |= (0 if abridged & (1 << i) else 3) << (2 * i)
        uc.reg_write(X.UC_X86_REG_FPCW, fcw)
        uc.reg_write(X.UC_X86_REG_FPSW, fsw)
        uc.reg_write(X.UC_X86_REG_FPTAG, ftw)
        uc.reg_write(X.UC_X86_REG_MXCSR, mxcsr & 0xFFFF)
        top = (fsw >> 11) & 7
        for i in range(8):
            mant, exp = struct.unpack_from("<QH", image, 32 + 16 * i)
            uc.reg_write(FPRS[(top + i) & 7], (mant, exp))
        for i, rid in enumerate(XMMS):
            uc.reg_write(rid, int.from_bytes(image[160 + 16 * i : 176 + 16 * i], "little"))

    # -- thread contexts -----------------------------------------------------------------------------

    def new_context(self) -> UcContext:
        return self.uc.context_save()

    def save(self, ctx: UcContext) -> None:
        self.uc.context_update(ctx)

    def restore(self, ctx: UcContext) -> None:
        self.uc.context_restore(ctx)

    def run(self, pc: int) -> int:
        """Run from pc until stopped; the uc_err code (0 for a plain stop)."""
        return self.engine.emu_start(pc)

    def stop(self) -> None:
        self.engine.stop()

    def fault(self) -> tuple[int, int]:
        return self.engine.fault()

    def fault_address(self, page: int) -> int:
        """The exact address of a data access that faulted on ``page``.

        TLB fills are page-granular, so the fill hook only knows the page. Re-run the faulting instruction
        once with that page mapped onto scratch memory and a memory hook on it, then undo everything
        (registers restored; only the scratch page was written). Rare path: only for signals."""
        if self._scratch is None:
            self._scratch = mmap.mmap(-1, 4096)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(self._scratch))
            self._scratch_phys = self.map_phys(addr, 4096)
        hits: list[int] = []

        def on_access(uc: Uc, access: int, address: int, size: int, value: int, data: object) -> None:
            hits.append(address)

        ctx = self.uc.context_save()
        rip = self.reg(RIP)
        # memory hooks see physical addresses in UC_TLB_VIRTUAL mode: watch the scratch page
        phys = self._scratch_phys
        hook = self.uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_access, None, phys, phys + 4095)
        self.engine.set_probe(page, self._scratch_phys)
        try:
            self.uc.emu_start(rip, 0, count=1)
        except UcError:
            pass
        finally:
            self.uc.hook_del(hook)
            self.engine.set_probe(0, 0)
            self.uc.context_restore(ctx)
        inside = [a - phys + page for a in hits if phys <= a < phys + 4096]
        inside += [a for a in hits if page <= a < page + 4096]
        return min(inside) if inside else page

    def close(self) -> None:
        """Remove the hooks and drop the Uc (uc_close frees its regions; the host buffers are the caller's)."""
        if not self.closed:
            self.closed = True
            self.engine.close()
            del self.uc
