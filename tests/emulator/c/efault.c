/* Bad pointers given to the kernel core's syscalls fail with EFAULT (never crash the kernel). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)16)
#define T(call) do { errno = 0; long r = (call); printf("%-40s r=%ld %s\n", #call, r, r < 0 ? strerror(errno) : ""); } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    T(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, BAD));
    T(syscall(SYS_gettimeofday, BAD, NULL));
    T(syscall(SYS_uname, BAD));
    T(syscall(SYS_getrusage, RUSAGE_SELF, BAD));
    T(syscall(SYS_nanosleep, BAD, NULL));
    T(syscall(SYS_rt_sigaction, SIGUSR1, BAD, NULL, 8));
    T(syscall(SYS_rt_sigprocmask, SIG_BLOCK, BAD, NULL, 8));
    T(syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 4));
    T(syscall(SYS_getrlimit, RLIMIT_NOFILE, BAD));
    T(syscall(SYS_sysinfo, BAD));
    T(syscall(SYS_getrandom, BAD, 16, 0));
    T(syscall(SYS_wait4, -1, BAD, 0, NULL));
    pid_t c = fork();
    if (c == 0) _exit(3);
    T(syscall(SYS_wait4, c, BAD, 0, NULL));
    T(syscall(SYS_wait4, -1, NULL, WNOHANG, NULL));
    T(syscall(SYS_setitimer, ITIMER_REAL, BAD, NULL));
    T(syscall(SYS_sigaltstack, BAD, NULL));
    T(syscall(SYS_kill, getpid(), 65));
    T(syscall(SYS_tgkill, getpid(), 0, SIGUSR1));
    T(syscall(SYS_setpgid, 99999, 0));
    T(syscall(SYS_getsid, 99999));
    T(syscall(SYS_sched_getaffinity, 0, 3, BAD));
    T(syscall(SYS_prlimit64, 0, 99, NULL, NULL));
    T(syscall(SYS_futex, BAD, 0, 0, NULL, NULL, 0));
    T(syscall(SYS_clone3, NULL, 0));
    printf("alive\n");
    return 0;
}
