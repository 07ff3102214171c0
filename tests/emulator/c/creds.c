/* Credentials: root may become anyone; afterwards the Linux rules for setuid/setresuid/setgid apply. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, int r) {
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("%-28s r=%2d %-22s uid=%u,%u,%u gid=%u,%u,%u\n", what, r, r ? strerror(errno) : "", ru, eu, su, rg, eg, sg);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t c = fork();
    if (c == 0) {
        gid_t groups[] = {5, 7};
        show("setgroups", setgroups(2, groups));
        gid_t got[8] = {0};
        int ngroups = getgroups(8, got);
        printf("getgroups=%d first=%u second=%u\n", ngroups, got[0], got[1]);
        show("setresgid(100,200,300)", setresgid(100, 200, 300));
        show("setresuid(1000,1001,1002)", setresuid(1000, 1001, 1002));
        show("setuid(1002) saved", setuid(1002));
        show("setuid(0) denied", setuid(0));
        show("seteuid(1000) real", seteuid(1000));
        show("setreuid(-1,1002)", setreuid(-1, 1002));
        show("setresuid(5,-1,-1) denied", setresuid(5, -1, -1));
        show("setgid(300) saved", setgid(300));
        show("setgid(0) denied", setgid(0));
        show("setgroups denied", setgroups(0, NULL));
        printf("kill(init,0): %d %s\n", kill(getppid(), 0), strerror(errno));
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    show("parent unchanged", 0);
    return WEXITSTATUS(st);
}
