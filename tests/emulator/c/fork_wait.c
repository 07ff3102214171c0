/* fork, exit statuses, wait4/waitpid/waitid, kill, getppid, process groups, vfork+_exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, int st) {
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else if (WIFSTOPPED(st)) printf("%s: stopped by %d\n", what, WSTOPSIG(st));
    else printf("%s: status %#x\n", what, st);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t me = getpid();
    for (int i = 0; i < 5; i++) {
        pid_t c = fork();
        if (c == 0) {
            if (getppid() != me) _exit(99);
            _exit(i * 10 + 1);
        }
        int st;
        pid_t w = waitpid(c, &st, 0);
        printf("child %d same=%d ", i, w == c);
        report("status", st);
    }
    /* a child killed by a signal */
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    kill(c, SIGTERM);
    int st;
    waitpid(c, &st, 0);
    report("term", st);
    c = fork();
    if (c == 0) { raise(SIGKILL); _exit(0); }
    waitpid(c, &st, 0);
    report("self-kill", st);
    /* abort: SIGABRT */
    c = fork();
    if (c == 0) { abort(); }
    waitpid(c, &st, 0);
    printf("abort: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    /* WNOHANG with a running child, then ECHILD */
    c = fork();
    if (c == 0) { pause(); _exit(5); }
    printf("wnohang: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGUSR1);
    waitpid(c, &st, 0);
    report("usr1", st);
    printf("echild: %d\n", waitpid(-1, &st, WNOHANG) == -1);
    /* waitid */
    c = fork();
    if (c == 0) _exit(42);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED);
    printf("waitid: signo=%d code=%d status=%d pid_ok=%d\n", si.si_signo, si.si_code, si.si_status, si.si_pid == c);
    /* vfork */
    volatile int shared = 1;
    c = vfork();
    if (c == 0) { shared = 2; _exit(3); }
    waitpid(c, &st, 0);
    printf("vfork: shared=%d ", shared);
    report("status", st);
    /* process groups */
    c = fork();
    if (c == 0) {
        setpgid(0, 0);
        printf("child pgid==pid %d\n", getpgid(0) == getpid());
        _exit(0);
    }
    waitpid(c, &st, 0);
    printf("parent pgid unchanged %d\n", getpgid(0) == getpgrp());
    /* many children, reaped in any order */
    int sum = 0;
    for (int i = 0; i < 20; i++) if (fork() == 0) _exit(i);
    for (int i = 0; i < 20; i++) { wait(&st); sum += WEXITSTATUS(st); }
    printf("sum=%d\n", sum);
    return 0;
}
