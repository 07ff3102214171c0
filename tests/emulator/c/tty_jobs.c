/* Job control on the controlling terminal (run on a pty, natively and in lxfs run): /dev/tty opens,
   /proc/self/stat shows a terminal and the foreground group, and ^C typed on the terminal (the test
   writes it when "ready" appears) interrupts the foreground group only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t parent_got_int;
static void on_int(int sig) { (void)sig; parent_got_int = 1; }

static void stat_tty(const char *who) {
    char buf[1024];
    int f = open("/proc/self/stat", O_RDONLY);
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')');
    char state;
    int ppid, pgrp, sid, tty_nr, tpgid;
    sscanf(p + 2, "%c %d %d %d %d %d", &state, &ppid, &pgrp, &sid, &tty_nr, &tpgid);
    printf("%s: tty_nr set %d, tpgid is pgrp %d, tpgid is tcgetpgrp %d\n", who, tty_nr != 0, tpgid == getpgrp(),
           tpgid == tcgetpgrp(1));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int t = open("/dev/tty", O_RDWR);
    printf("open /dev/tty: %s\n", t >= 0 ? "ok" : strerror(errno));
    if (t >= 0) close(t);
    printf("foreground: %d\n", tcgetpgrp(0) == getpgrp());
    stat_tty("parent");
    signal(SIGINT, on_int);
    signal(SIGTTOU, SIG_IGN);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        setpgid(0, 0);
        while (tcgetpgrp(0) != getpgrp()) usleep(1000);
        stat_tty("child");
        printf("ready\n");
        for (;;) pause();
    }
    setpgid(child, child);
    tcsetpgrp(0, child);
    int status;
    waitpid(child, &status, 0);
    printf("child: signaled %d sig %d\n", WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    tcsetpgrp(0, getpgrp());
    printf("parent got SIGINT: %d; foreground again: %d\n", (int)parent_got_int, tcgetpgrp(0) == getpgrp());
    return 0;
}
