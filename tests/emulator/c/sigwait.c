/* sigtimedwait takes blocked signals (with the sender's pid), times out with EAGAIN; SIGSTOP/SIGCONT
   of a child show up in waitpid with WUNTRACED/WCONTINUED; SIGKILL of a stopped child. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t c = fork();
    if (c == 0) { usleep(50000); kill(getppid(), SIGUSR1); _exit(0); }
    siginfo_t si;
    struct timespec ts = {5, 0};
    int r = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait: r=%d signo=%d from_child=%d code=%d\n", r, si.si_signo, si.si_pid == c, si.si_code);
    waitpid(c, NULL, 0);
    struct timespec short_ts = {0, 10000000};
    r = sigtimedwait(&set, &si, &short_ts);
    printf("timeout: r=%d eagain=%d\n", r, errno == EAGAIN);
    raise(SIGUSR1);
    r = sigwaitinfo(&set, &si);
    printf("already pending: r=%d code=%d\n", r, si.si_code);
    /* stop and continue a child */
    c = fork();
    if (c == 0) { for (;;) pause(); }
    int st;
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    printf("stopped=%d sig=%d\n", WIFSTOPPED(st), WSTOPSIG(st));
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    printf("continued=%d\n", WIFCONTINUED(st));
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    printf("killed=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}
