/* handlers with siginfo, sigreturn restoring registers and FP state, masks, SA_RESTART vs EINTR,
   sigaltstack, sigsuspend, alarm, setitimer, nanosleep interrupted, SIGCHLD. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, last_sig, last_code, chld;
static volatile double fp_in_handler;

static void handler(int sig, siginfo_t *si, void *uc) {
    got++;
    last_sig = sig;
    last_code = si->si_code;
    fp_in_handler = 1.5 * sig;
}
static void on_chld(int sig) { chld++; }
static char altstack[65536];
static volatile int on_alt;
static void alt_handler(int sig) {
    int x;
    on_alt = (char *)&x >= altstack && (char *)&x < altstack + sizeof altstack;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    double x = 1.0 / 7.0;
    raise(SIGUSR1);
    printf("raise: got=%d sig=%d code=%d fp=%.3f x=%.17g\n", got, last_sig, last_code, fp_in_handler, x);
    kill(getpid(), SIGUSR1);
    printf("kill: got=%d code=%d\n", got, last_code);
    /* blocked signals stay pending until unblocked */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    printf("blocked: got=%d pending=%d\n", got, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: got=%d\n", got);
    /* alarm interrupts pause() */
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    int r = pause();
    printf("pause: r=%d errno=%d sig=%d\n", r, errno, last_sig);
    /* setitimer: three ticks of 20 ms */
    struct itimerval it = {{0, 20000}, {0, 20000}};
    got = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    while (got < 3) pause();
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    printf("itimer: got=%d\n", got);
    /* nanosleep interrupted: EINTR and a remainder */
    struct itimerval one = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &one, NULL);
    struct timespec req = {5, 0}, rem = {0, 0};
    r = nanosleep(&req, &rem);
    printf("nanosleep: r=%d eintr=%d rem_ok=%d\n", r, errno == EINTR, rem.tv_sec >= 4 && rem.tv_sec <= 5);
    /* a blocking wait4: EINTR without SA_RESTART, restarted with it */
    pid_t kid = fork();
    if (kid == 0) { usleep(200000); _exit(4); }
    setitimer(ITIMER_REAL, &one, NULL);
    int st = 0;
    r = waitpid(kid, &st, 0);
    printf("wait no-restart: r=%d eintr=%d\n", r, errno == EINTR);
    r = waitpid(kid, &st, 0);
    printf("wait again: same=%d status=%d\n", r == kid, WEXITSTATUS(st));
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    kid = fork();
    if (kid == 0) { usleep(200000); _exit(5); }
    got = 0;
    setitimer(ITIMER_REAL, &one, NULL);
    r = waitpid(kid, &st, 0);
    printf("wait restart: same=%d status=%d got=%d\n", r == kid, WEXITSTATUS(st), got);
    /* sigaltstack */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa2;
    memset(&sa2, 0, sizeof sa2);
    sa2.sa_handler = alt_handler;
    sa2.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa2, NULL);
    raise(SIGUSR2);
    printf("altstack: on_alt=%d\n", on_alt);
    /* sigsuspend */
    sigprocmask(SIG_BLOCK, &set, &old);
    if (fork() == 0) { kill(getppid(), SIGUSR1); _exit(0); }
    sigset_t empty;
    sigemptyset(&empty);
    got = 0;
    r = sigsuspend(&empty);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("sigsuspend: r=%d got=%d still_blocked=%d\n", r, got, sigismember(&now, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    wait(NULL);
    /* SIGCHLD */
    signal(SIGCHLD, on_chld);
    if (fork() == 0) _exit(0);
    while (!chld) pause();
    wait(NULL);
    printf("sigchld: %d\n", chld);
    /* ignored signal does nothing; default SIGTERM kills */
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    printf("ignored ok\n");
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}
