#define _GNU_SOURCE
/* mmap anonymous and shared across fork, munmap, mprotect faults (SIGSEGV handler + siglongjmp),
   mremap, brk growth, stack growth. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile void *fault_addr;
static void segv(int sig, siginfo_t *si, void *uc) {
    fault_addr = si->si_addr;
    siglongjmp(jb, si->si_code);
}

static int deep(int n) {
    volatile char buf[4096];
    buf[0] = (char)n;
    return n == 0 ? buf[0] : deep(n - 1) + buf[0];
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    long ps = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 'a', 4 * ps);
    printf("anon ok %c%c zero-after-munmap-remap:", p[0], p[4 * ps - 1]);
    munmap(p + ps, ps);
    int code = sigsetjmp(jb, 1);
    if (code == 0) { p[ps] = 1; printf(" no fault\n"); }
    else printf(" fault code=%d at_offset=%ld\n", code, (char *)fault_addr - p);
    char *q = mmap(p + ps, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed remap same=%d zero=%d neighbours=%c%c\n", q == p + ps, q[0] == 0, p[0], p[2 * ps]);
    mprotect(p, ps, PROT_READ);
    code = sigsetjmp(jb, 1);
    if (code == 0) { p[10] = 'b'; printf("mprotect: no fault\n"); }
    else printf("mprotect: fault code=%d off=%ld value=%c\n", code, (char *)fault_addr - p, p[10]);
    mprotect(p, ps, PROT_READ | PROT_WRITE);
    p[10] = 'c';
    printf("writable again %c\n", p[10]);
    /* shared mapping across fork */
    int *sh = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *priv = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *sh = 1;
    *priv = 1;
    if (fork() == 0) { *sh = 42; *priv = 42; _exit(0); }
    wait(NULL);
    printf("shared=%d private=%d\n", *sh, *priv);
    /* mremap grow keeps data */
    char *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(m, "keep me");
    m = mremap(m, ps, 64 * ps, MREMAP_MAYMOVE);
    m[63 * ps] = 'z';
    printf("mremap: %s %c\n", m, m[63 * ps]);
    /* brk through malloc, large and small */
    size_t total = 0;
    for (int i = 0; i < 1000; i++) { char *b = malloc(1000 + i); b[999] = 1; total += 1000 + i; }
    char *big = malloc(64 << 20);
    big[(64 << 20) - 1] = 'e';
    printf("malloc total=%zu big_end=%c\n", total, big[(64 << 20) - 1]);
    /* stack growth: ~1 MiB of recursion */
    printf("deep=%d\n", deep(250));
    /* NULL dereference */
    code = sigsetjmp(jb, 1);
    if (code == 0) { *(volatile int *)0 = 1; }
    printf("null: code=%d addr=%p\n", code, fault_addr);
    return 0;
}
