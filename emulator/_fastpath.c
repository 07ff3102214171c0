/* emulator._fastpath: the emulator's hot path in C (DESIGN.md "The C hot path", "TLB mode").
 *
 * One Engine per Unicorn instance (= one guest address space). It owns:
 *  - the syscall trampoline: reads rax, rdi, rsi, rdx, r10, r8, r9 (+ rip, eflags) in one batch, sets
 *    RCX/R11 as the CPU's `syscall` does, calls one Python dispatcher with the seven integers and
 *    writes its result to rax (a result of None leaves rax alone);
 *  - the UC_TLB_VIRTUAL fill hook: a sorted table of (start, end, prot, physical base) that Python
 *    keeps in step with the VMA list; data accesses get read/write pages, fetches read/exec pages;
 *  - emu_start without the GIL (re-taken only around the dispatcher call), and a host timer thread
 *    that preempts the running engine every few milliseconds: with the patched Unicorn that setup.py
 *    builds it calls uc_emu_stop itself (precise there); with the wheel's it raises a flag that a block
 *    hook turns into uc_emu_stop at the next TB start (see hook_block for why);
 *  - precise fault reporting helpers: the last failed fill, the last exception vector, and a probe page.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unicorn/unicorn.h>

#define PHYS_WINDOW ((uint64_t)1 << 47) /* physical addresses live above user space (see cpu.py) */

typedef struct {
    uint64_t start, end, phys;
    uint32_t prot;
} Area;

typedef struct {
    PyObject_HEAD
    uc_engine *uc;
    PyObject *dispatcher;
    PyThreadState *tstate; /* the Python thread while the guest runs without the GIL */
    PyObject *exc_type, *exc_value, *exc_tb;
    uc_hook h_syscall, h_tlb;
    Area *areas;
    Py_ssize_t n_areas, cap_areas;
    uint64_t fault_addr;
    int fault_type;
    int intno;                        /* last CPU exception vector (-1: none) */
    uint64_t probe_page, probe_phys; /* a page mapped read/write/exec onto scratch memory (fault probe) */
    uc_hook h_intr;
    volatile int preempt; /* set by the timer thread; the block hook stops the CPU at a precise point */
    uc_hook h_block;
    int phys_window; /* answer fills of physical addresses (>= PHYS_WINDOW) with the identity map */
    int hooked;
    unsigned long long syscalls;
    unsigned long long sys_ns; /* time inside the dispatcher: the guest's system time */
    unsigned long long starts; /* emu_start calls, for the TLB flushes that let QEMU resize it */
} Engine;

/* The engine the CPU is running now, for the preemption timer. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static Engine *running = NULL;
static pthread_t timer_thread;
static volatile int timer_on = 0;
static volatile long timer_interval_us = 4000;
/* The loaded libunicorn takes exit requests only at block starts (setup.py's patch): the timer may call
 * uc_emu_stop directly and no engine needs the block hook. Set before the first Engine is made. */
static int precise_stop = 0;

static const int syscall_regs[9] = {
    UC_X86_REG_RAX, UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_R10,
    UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_RIP, UC_X86_REG_EFLAGS,
};

static void hook_syscall(uc_engine *uc, void *user_data)
{
    Engine *self = (Engine *)user_data;
    uint64_t v[9] = {0};
    void *ptrs[9];
    for (int i = 0; i < 9; i++)
        ptrs[i] = &v[i];
    uc_reg_read_batch(uc, (int *)syscall_regs, ptrs, 9);
    /* syscall(2) ABI: the CPU leaves the return address in rcx and rflags in r11. RIP still points at
     * the syscall instruction here (Unicorn adds its length after the hook). */
    uint64_t rcx = v[7] + 2, r11 = v[8];
    uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
    uc_reg_write(uc, UC_X86_REG_R11, &r11);
    self->syscalls++;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    PyEval_RestoreThread(self->tstate);
    PyObject *args[7];
    int ok = 1;
    for (int i = 0; i < 7; i++) {
        args[i] = PyLong_FromUnsignedLongLong(v[i]);
        if (!args[i]) {
            for (int j = 0; j < i; j++)
                Py_DECREF(args[j]);
            ok = 0;
            break;
        }
    }
    PyObject *res = NULL;
    if (ok) {
        res = PyObject_Vectorcall(self->dispatcher, args, 7, NULL);
        for (int i = 0; i < 7; i++)
            Py_DECREF(args[i]);
    }
    if (res == NULL) {
        /* A bug in the kernel: keep the exception for emu_start to raise, stop the CPU. */
        if (!self->exc_type)
            PyErr_Fetch(&self->exc_type, &self->exc_value, &self->exc_tb);
        else
            PyErr_Clear();
        uc_emu_stop(uc);
    } else {
        if (res != Py_None) {
            uint64_t rax = (uint64_t)PyLong_AsUnsignedLongLongMask(res);
            if (rax == (uint64_t)-1 && PyErr_Occurred()) {
                PyErr_Clear();
            } else {
                uc_reg_write(uc, UC_X86_REG_RAX, &rax);
            }
        }
        Py_DECREF(res);
    }
    self->tstate = PyEval_SaveThread();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    self->sys_ns += (unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
}

static bool hook_tlb_fill(uc_engine *uc, uint64_t vaddr, uc_mem_type type, uc_tlb_entry *result, void *user_data)
{
    Engine *self = (Engine *)user_data;
    Py_ssize_t lo = 0, hi = self->n_areas - 1;
    (void)uc;
    if (self->phys_window && vaddr >= PHYS_WINDOW) {
        /* Unicorn's uc_mem_unmap looks its (physical) range up as a virtual address to invalidate
         * translated code: answer with the identity map while the kernel unmaps. A failed fill outside
         * emu_start would longjmp into a stale frame. */
        result->paddr = vaddr & ~(uint64_t)0xfff;
        result->perms = UC_PROT_ALL;
        return true;
    }
    if (self->probe_phys && (vaddr & ~(uint64_t)0xfff) == self->probe_page) {
        result->paddr = self->probe_phys;
        result->perms = UC_PROT_ALL;
        return true;
    }
    while (lo <= hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        Area *a = &self->areas[mid];
        if (vaddr < a->start) {
            hi = mid - 1;
        } else if (vaddr >= a->end) {
            lo = mid + 1;
        } else {
            uint32_t need = type == UC_MEM_FETCH ? UC_PROT_EXEC : type == UC_MEM_WRITE ? UC_PROT_WRITE : UC_PROT_READ;
            if (!(a->prot & need))
                break;
            uint64_t page = vaddr & ~(uint64_t)0xfff;
            result->paddr = a->phys + (page - a->start);
            /* Code pages read+exec, data pages read+write: a store to a page holding translated code
             * refills the entry, so self-modifying code is still caught by QEMU's dirty tracking. */
            if (type == UC_MEM_FETCH)
                result->perms = (uc_prot)(a->prot & (UC_PROT_READ | UC_PROT_EXEC));
            else
                result->perms = (uc_prot)(a->prot & (UC_PROT_READ | UC_PROT_WRITE));
            return true;
        }
    }
    self->fault_addr = vaddr;
    self->fault_type = (int)type;
    return false;
}

/* Preemption point with the wheel's Unicorn. 2.1.2-2.1.4 also check for an exit request after every guest
 * load and store, and one taken after a store restores RIP to the start of that instruction, which has
 * already written memory: it runs twice (setup.py patches those checks out). So with the wheel's library
 * the timer only raises a flag; this hook, called at the start of every TB with RIP in sync, performs the
 * stop. It costs ~1.5x on tight loops, hence the patched build. */
static void hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    Engine *self = (Engine *)user_data;
    (void)address;
    (void)size;
    if (self->preempt) {
        self->preempt = 0;
        uc_emu_stop(uc);
    }
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user_data)
{
    Engine *self = (Engine *)user_data;
    self->intno = (int)intno;
    uc_emu_stop(uc);
}

static int Engine_init(Engine *self, PyObject *args, PyObject *kwds)
{
    unsigned long long handle;
    PyObject *dispatcher;
    static char *kwlist[] = {"handle", "dispatcher", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KO", kwlist, &handle, &dispatcher))
        return -1;
    if (self->hooked) {
        PyErr_SetString(PyExc_RuntimeError, "Engine already initialised");
        return -1;
    }
    self->uc = (uc_engine *)(uintptr_t)handle;
    Py_INCREF(dispatcher);
    self->dispatcher = dispatcher;
    uc_err err = uc_hook_add(self->uc, &self->h_syscall, UC_HOOK_INSN, (void *)hook_syscall, self, 1, 0,
                             UC_X86_INS_SYSCALL);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_hook_add(syscall): %s", uc_strerror(err));
        return -1;
    }
    err = uc_ctl_tlb_mode(self->uc, UC_TLB_VIRTUAL);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_ctl_tlb_mode: %s", uc_strerror(err));
        return -1;
    }
    err = uc_hook_add(self->uc, &self->h_tlb, UC_HOOK_TLB_FILL, (void *)hook_tlb_fill, self, 1, 0);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_hook_add(tlb): %s", uc_strerror(err));
        return -1;
    }
    err = uc_hook_add(self->uc, &self->h_intr, UC_HOOK_INTR, (void *)hook_intr, self, 1, 0);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_hook_add(intr): %s", uc_strerror(err));
        return -1;
    }
    if (!precise_stop)
        err = uc_hook_add(self->uc, &self->h_block, UC_HOOK_BLOCK, (void *)hook_block, self, 1, 0);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_hook_add(block): %s", uc_strerror(err));
        return -1;
    }
    self->intno = -1;
    self->hooked = 1;
    return 0;
}

static void Engine_dealloc(Engine *self)
{
    pthread_mutex_lock(&running_lock);
    if (running == self)
        running = NULL;
    pthread_mutex_unlock(&running_lock);
    Py_XDECREF(self->dispatcher);
    Py_XDECREF(self->exc_type);
    Py_XDECREF(self->exc_value);
    Py_XDECREF(self->exc_tb);
    PyMem_Free(self->areas);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* close(): remove the hooks (before the Uc is closed by its owner). */
static PyObject *Engine_close(Engine *self, PyObject *unused)
{
    (void)unused;
    if (self->hooked) {
        uc_hook_del(self->uc, self->h_syscall);
        uc_hook_del(self->uc, self->h_tlb);
        uc_hook_del(self->uc, self->h_intr);
        if (self->h_block)
            uc_hook_del(self->uc, self->h_block);
        self->hooked = 0;
    }
    Py_RETURN_NONE;
}

/* set_areas(table): table is a bytes-like of packed little-endian (start, end, phys, prot) u64 quads,
 * sorted by start and non-overlapping. */
static PyObject *Engine_set_areas(Engine *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = view.len / 32;
    if (n > self->cap_areas) {
        Area *a = PyMem_Realloc(self->areas, (size_t)n * sizeof(Area));
        if (!a) {
            PyBuffer_Release(&view);
            return PyErr_NoMemory();
        }
        self->areas = a;
        self->cap_areas = n;
    }
    const uint64_t *q = (const uint64_t *)view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        self->areas[i].start = q[4 * i];
        self->areas[i].end = q[4 * i + 1];
        self->areas[i].phys = q[4 * i + 2];
        self->areas[i].prot = (uint32_t)q[4 * i + 3];
    }
    self->n_areas = n;
    PyBuffer_Release(&view);
    uc_ctl_flush_tlb(self->uc);
    Py_RETURN_NONE;
}

static PyObject *Engine_flush_tlb(Engine *self, PyObject *unused)
{
    (void)unused;
    uc_ctl_flush_tlb(self->uc);
    Py_RETURN_NONE;
}

/* emu_start(pc) -> uc_err: run until emu_stop (syscall hook, timer, fault). Never a timeout or count. */
static PyObject *Engine_emu_start(Engine *self, PyObject *arg)
{
    unsigned long long pc = PyLong_AsUnsignedLongLongMask(arg);
    if (PyErr_Occurred())
        return NULL;
    self->fault_addr = 0;
    self->fault_type = 0;
    self->intno = -1;
    self->preempt = 0;
    /* QEMU sizes its soft TLB only when it is flushed (tlb_mmu_resize_locked: doubled when >70% of it was
     * used since the last flush, shrunk when <30%). The flushes of a program's start-up (mmap, mprotect)
     * leave it at its 64-entry minimum, and a loop over more pages than that misses on every page. So
     * flush at the 2nd, 4th, 8th... start of this engine (mostly preemptions): a few flushes early,
     * rare ones later. Sieve over 2 MiB: ~25% less CPU. */
    self->starts++;
    if (self->starts >= 2 && !(self->starts & (self->starts - 1)))
        uc_ctl_flush_tlb(self->uc);
    pthread_mutex_lock(&running_lock);
    running = self;
    pthread_mutex_unlock(&running_lock);
    self->tstate = PyEval_SaveThread();
    uc_err err = uc_emu_start(self->uc, pc, 0, 0, 0);
    PyEval_RestoreThread(self->tstate);
    self->tstate = NULL;
    pthread_mutex_lock(&running_lock);
    running = NULL;
    pthread_mutex_unlock(&running_lock);
    if (self->exc_type) {
        PyErr_Restore(self->exc_type, self->exc_value, self->exc_tb);
        self->exc_type = self->exc_value = self->exc_tb = NULL;
        return NULL;
    }
    return PyLong_FromLong((long)err);
}

static PyObject *Engine_stop(Engine *self, PyObject *unused)
{
    (void)unused;
    uc_emu_stop(self->uc);
    Py_RETURN_NONE;
}

static PyObject *Engine_sys_ns(Engine *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->sys_ns);
}

static PyObject *Engine_fault(Engine *self, PyObject *unused)
{
    (void)unused;
    return Py_BuildValue("(Ki)", (unsigned long long)self->fault_addr, self->fault_type);
}

static PyObject *Engine_intno(Engine *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromLong(self->intno);
}

/* set_probe(page, phys): map guest page ``page`` onto physical ``phys`` with every permission (0, 0: off). */
static PyObject *Engine_set_probe(Engine *self, PyObject *args)
{
    unsigned long long page, phys;
    if (!PyArg_ParseTuple(args, "KK", &page, &phys))
        return NULL;
    self->probe_page = page;
    self->probe_phys = phys;
    uc_ctl_flush_tlb(self->uc);
    Py_RETURN_NONE;
}

/* unmap_phys(phys, size): uc_mem_unmap of a physical region, with the identity window open. */
static PyObject *Engine_unmap_phys(Engine *self, PyObject *args)
{
    unsigned long long phys, size;
    if (!PyArg_ParseTuple(args, "KK", &phys, &size))
        return NULL;
    self->phys_window = 1;
    uc_err err = uc_mem_unmap(self->uc, phys, size);
    self->phys_window = 0;
    uc_ctl_flush_tlb(self->uc);
    if (err != UC_ERR_OK) {
        PyErr_Format(PyExc_RuntimeError, "uc_mem_unmap: %s", uc_strerror(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

/* reg_read(ids) -> list of ints (64-bit registers), one uc_reg_read_batch. */
static PyObject *Engine_reg_read(Engine *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "register ids");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 64) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "at most 64 registers");
        return NULL;
    }
    int ids[64];
    uint64_t vals[64];
    void *ptrs[64];
    for (Py_ssize_t i = 0; i < n; i++) {
        ids[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        vals[i] = 0;
        ptrs[i] = &vals[i];
    }
    Py_DECREF(seq);
    if (PyErr_Occurred())
        return NULL;
    uc_reg_read_batch(self->uc, ids, ptrs, (int)n);
    PyObject *out = PyList_New(n);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyList_SET_ITEM(out, i, PyLong_FromUnsignedLongLong(vals[i]));
    return out;
}

/* reg_write(ids, values): one uc_reg_write_batch of 64-bit registers. */
static PyObject *Engine_reg_write(Engine *self, PyObject *args)
{
    PyObject *ids_o, *vals_o;
    if (!PyArg_ParseTuple(args, "OO", &ids_o, &vals_o))
        return NULL;
    PyObject *ids_s = PySequence_Fast(ids_o, "register ids");
    if (!ids_s)
        return NULL;
    PyObject *vals_s = PySequence_Fast(vals_o, "register values");
    if (!vals_s) {
        Py_DECREF(ids_s);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ids_s);
    if (n > 64 || n != PySequence_Fast_GET_SIZE(vals_s)) {
        Py_DECREF(ids_s);
        Py_DECREF(vals_s);
        PyErr_SetString(PyExc_ValueError, "bad register lists");
        return NULL;
    }
    int ids[64];
    uint64_t vals[64];
    void *ptrs[64];
    for (Py_ssize_t i = 0; i < n; i++) {
        ids[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(ids_s, i));
        vals[i] = (uint64_t)PyLong_AsUnsignedLongLongMask(PySequence_Fast_GET_ITEM(vals_s, i));
        ptrs[i] = &vals[i];
    }
    Py_DECREF(ids_s);
    Py_DECREF(vals_s);
    if (PyErr_Occurred())
        return NULL;
    uc_reg_write_batch(self->uc, ids, ptrs, (int)n);
    Py_RETURN_NONE;
}

static PyObject *Engine_get_syscalls(Engine *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->syscalls);
}

static PyMethodDef Engine_methods[] = {
    {"close", (PyCFunction)Engine_close, METH_NOARGS, "Remove the hooks."},
    {"set_areas", (PyCFunction)Engine_set_areas, METH_O, "Replace the TLB-fill table (packed u64 quads)."},
    {"flush_tlb", (PyCFunction)Engine_flush_tlb, METH_NOARGS, "Invalidate the guest TLB."},
    {"emu_start", (PyCFunction)Engine_emu_start, METH_O, "Run from pc until stopped; returns uc_err."},
    {"stop", (PyCFunction)Engine_stop, METH_NOARGS, "uc_emu_stop."},
    {"sys_ns", (PyCFunction)Engine_sys_ns, METH_NOARGS, "Nanoseconds spent in the dispatcher so far."},
    {"fault", (PyCFunction)Engine_fault, METH_NOARGS, "(address, access type) of the last failed TLB fill."},
    {"unmap_phys", (PyCFunction)Engine_unmap_phys, METH_VARARGS, "uc_mem_unmap a physical region."},
    {"intno", (PyCFunction)Engine_intno, METH_NOARGS, "The CPU exception vector that stopped the last run, or -1."},
    {"set_probe", (PyCFunction)Engine_set_probe, METH_VARARGS, "Map one page onto scratch memory (fault probe)."},
    {"reg_read", (PyCFunction)Engine_reg_read, METH_O, "Read 64-bit registers."},
    {"reg_write", (PyCFunction)Engine_reg_write, METH_VARARGS, "Write 64-bit registers."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Engine_getset[] = {
    {"syscalls", (getter)Engine_get_syscalls, NULL, "syscalls dispatched", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "emulator._fastpath.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

static void *timer_main(void *unused)
{
    (void)unused;
    while (timer_on) {
        struct timespec ts = {timer_interval_us / 1000000, (timer_interval_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&running_lock);
        if (running) {
            if (precise_stop)
                uc_emu_stop(running->uc); /* taken at the next block start, RIP exact */
            else
                running->preempt = 1;
        }
        pthread_mutex_unlock(&running_lock);
    }
    return NULL;
}

/* start_timer(interval_us): preempt the running engine every interval (idempotent). */
static PyObject *fp_start_timer(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long us = PyLong_AsLong(arg);
    if (PyErr_Occurred())
        return NULL;
    timer_interval_us = us > 100 ? us : 100;
    if (!timer_on) {
        timer_on = 1;
        if (pthread_create(&timer_thread, NULL, timer_main, NULL) != 0) {
            timer_on = 0;
            PyErr_SetString(PyExc_OSError, "pthread_create");
            return NULL;
        }
        pthread_detach(timer_thread);
    }
    Py_RETURN_NONE;
}

static PyObject *fp_stop_timer(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    timer_on = 0;
    Py_RETURN_NONE;
}

/* set_precise_stop(flag) -> bool: the loaded libunicorn is the patched build (see precise_stop). */
static PyObject *fp_set_precise_stop(PyObject *mod, PyObject *arg)
{
    (void)mod;
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    precise_stop = flag;
    return PyBool_FromLong(flag);
}

static PyMethodDef module_methods[] = {
    {"set_precise_stop", fp_set_precise_stop, METH_O, "Preempt with uc_emu_stop (patched Unicorn only)."},
    {"start_timer", fp_start_timer, METH_O, "Start the preemption timer."},
    {"stop_timer", fp_stop_timer, METH_NOARGS, "Stop the preemption timer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, "emulator._fastpath", "The emulator's C hot path.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (!m)
        return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
