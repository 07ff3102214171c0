/* User and system time are told apart: a loop of syscalls is mostly system time, a loop of arithmetic
   mostly user time (getrusage, times, /proc/self/stat, a reaped child's in RUSAGE_CHILDREN). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static double secs(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return secs(r.ru_utime) + secs(r.ru_stime);
}

/* Syscalls for `seconds` of CPU time, not a fixed count: time is sampled by the tick (4 ms at 250 Hz), so
   a native loop of 400,000 getppid (~40 ms here) was ten ticks, and under load its user share won. */
static void syscalls(double seconds) {
    double end = cpu() + seconds;
    do
        for (int i = 0; i < 10000; i++) syscall(SYS_getppid);
    while (cpu() < end);
}

static void arithmetic(long n) {
    volatile unsigned long x = 1;
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.4;
    long loops = argc > 2 ? atol(argv[2]) : 60000000;
    struct rusage a, b, c;
    getrusage(RUSAGE_SELF, &a);
    syscalls(seconds);
    getrusage(RUSAGE_SELF, &b);
    arithmetic(loops);
    getrusage(RUSAGE_SELF, &c);
    double su = secs(b.ru_utime) - secs(a.ru_utime), ss = secs(b.ru_stime) - secs(a.ru_stime);
    double cu = secs(c.ru_utime) - secs(b.ru_utime), cs = secs(c.ru_stime) - secs(b.ru_stime);
    printf("syscall loop: more system than user time: %d\n", ss > su);
    printf("arithmetic loop: more user than system time: %d\n", cu > cs);

    struct tms tm;
    times(&tm);
    printf("times: system ticks > 0: %d\n", tm.tms_stime > 0);
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    unsigned long ut, st;
    sscanf(strrchr(buf, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    printf("/proc/self/stat: utime > 0: %d, stime > 0: %d\n", ut > 0, st > 0);

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        syscalls(seconds / 4);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    struct rusage ch;
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("reaped child: system time > 0: %d\n", secs(ch.ru_stime) > 0);
    return 0;
}
