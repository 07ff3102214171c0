/* Readiness: poll/ppoll/select/pselect6 on pipes, sockets and files; epoll (level and edge
 * triggered, oneshot, nested, errors); eventfd (counter and semaphore). */
#include "fs_common.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile int alarms;
static void on_alarm(int sig) { alarms++; }

int main(void) {
    int p[2], sv[2];
    char buf[256];
    Q(pipe(p));
    Q(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int f = open("file", O_RDWR | O_CREAT | O_TRUNC, 0644);

    struct pollfd pf[5] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {f, POLLIN | POLLOUT, 0}, {99, POLLIN, 0},
                           {-1, POLLIN, 0}};
    T(poll(pf, 5, 0));
    for (int i = 0; i < 5; i++)
        printf("pollfd[%d] revents=%#x\n", i, pf[i].revents);
    write(p[1], "x", 1);
    T(poll(pf, 2, 0));
    printf("pipe revents=%#x %#x\n", pf[0].revents, pf[1].revents);
    close(p[1]);
    pf[0].events = POLLIN;
    T(poll(pf, 1, 0));
    printf("after writer close revents=%#x\n", pf[0].revents);
    read(p[0], buf, 1);
    T(poll(pf, 1, 0));
    printf("drained revents=%#x\n", pf[0].revents);
    close(p[0]);
    Q(pipe(p));
    close(p[0]);
    pf[0] = (struct pollfd){p[1], POLLOUT, 0};
    T(poll(pf, 1, 0));
    printf("no reader revents=%#x\n", pf[0].revents);
    close(p[1]);

    /* timeouts */
    Q(pipe(p));
    pf[0] = (struct pollfd){p[0], POLLIN, 0};
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    T(poll(pf, 1, 50));
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    printf("waited >=45ms: %d\n", ms >= 45);
    struct timespec ts = {0, 20000000};
    T(ppoll(pf, 1, &ts, NULL));
    T(poll((struct pollfd *)8, 1, 0));
    T(poll(pf, 100000000, 0));

    /* a writer in a child wakes a blocked poll */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(30000);
        write(p[1], "wake", 4);
        _exit(0);
    }
    T(poll(pf, 1, 5000));
    printf("woken revents=%#x\n", pf[0].revents);
    int status;
    waitpid(pid, &status, 0);
    read(p[0], buf, 4);

    /* poll, select and epoll_wait are not restarted after a handler, even with SA_RESTART */
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 0}, {0, 30000}};
        struct pollfd one = {p[0], POLLIN, 0};
        setitimer(ITIMER_REAL, &it, NULL);
        T(poll(&one, 1, 5000));
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(p[0], &rs);
        setitimer(ITIMER_REAL, &it, NULL);
        T(select(p[0] + 1, &rs, NULL, NULL, NULL));
        int e = epoll_create1(0);
        struct epoll_event ee = {.events = EPOLLIN, .data.fd = p[0]}, got[2];
        epoll_ctl(e, EPOLL_CTL_ADD, p[0], &ee);
        setitimer(ITIMER_REAL, &it, NULL);
        T(epoll_wait(e, got, 2, -1));
        close(e);
        printf("alarms=%d\n", alarms);
    }

    /* select */
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(sv[0], &rd);
    FD_SET(sv[0], &wr);
    FD_SET(f, &rd);
    struct timeval tv = {0, 0};
    T(select(20, &rd, &wr, NULL, &tv));
    printf("rd: p0=%d sv0=%d f=%d wr: sv0=%d\n", FD_ISSET(p[0], &rd), FD_ISSET(sv[0], &rd), FD_ISSET(f, &rd),
           FD_ISSET(sv[0], &wr));
    write(sv[1], "s", 1);
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    tv = (struct timeval){1, 0};
    T(select(sv[0] + 1, &rd, NULL, NULL, &tv));
    printf("sv0 readable=%d\n", FD_ISSET(sv[0], &rd));
    FD_ZERO(&rd);
    FD_SET(60, &rd);
    tv = (struct timeval){0, 0};
    T(select(61, &rd, NULL, NULL, &tv));
    T(select(-1, NULL, NULL, NULL, &tv));
    tv = (struct timeval){0, 30000};
    T(select(0, NULL, NULL, NULL, &tv));
    struct timespec pts = {0, 1000};
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    T(pselect(p[0] + 1, &rd, NULL, NULL, &pts, NULL));
    read(sv[0], buf, 1);

    /* eventfd */
    int efd = eventfd(3, EFD_NONBLOCK);
    uint64_t v;
    T(read(efd, &v, 8));
    printf("v=%llu\n", (unsigned long long)v);
    T(read(efd, &v, 8));
    T(read(efd, &v, 4));
    v = 5;
    T(write(efd, &v, 8));
    v = 0xffffffffffffffffULL;
    T(write(efd, &v, 8));
    v = 0xfffffffffffffff0ULL;
    T(write(efd, &v, 8));
    T(read(efd, &v, 8));
    printf("v=%llu\n", (unsigned long long)v);
    int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
    T(fcntl(sem, F_GETFD));
    T(read(sem, &v, 8));
    printf("sem v=%llu\n", (unsigned long long)v);
    T(read(sem, &v, 8));
    T(read(sem, &v, 8));
    T(eventfd(0, 12345));
    pf[0] = (struct pollfd){sem, POLLIN | POLLOUT, 0};
    T(poll(pf, 1, 0));
    printf("eventfd revents=%#x\n", pf[0].revents);
    /* blocking eventfd read woken by a child */
    int bfd = eventfd(0, 0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        usleep(20000);
        uint64_t one = 7;
        write(bfd, &one, 8);
        _exit(0);
    }
    T(read(bfd, &v, 8));
    printf("blocking eventfd v=%llu\n", (unsigned long long)v);
    waitpid(pid, &status, 0);

    /* epoll */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    T(ep >= 0);
    T(epoll_create(0));
    T(epoll_create1(5));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], &ev));
    T(epoll_ctl(ep, 9, p[0], &ev));
    T(epoll_ctl(f, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[8];
    T(epoll_wait(ep, out, 8, 0));
    write(p[1], "e", 1);
    T(epoll_wait(ep, out, 8, 0));
    printf("event=%#x data=%llx\n", out[0].events, (unsigned long long)out[0].data.u64);
    T(epoll_wait(ep, out, 8, 0));
    T(epoll_wait(ep, out, 0, 0));
    T(epoll_wait(ep, (void *)8, 8, 0));
    T(epoll_wait(f, out, 8, 0));
    read(p[0], buf, 1);
    T(epoll_wait(ep, out, 8, 10));

    /* edge triggered */
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.fd = sv[0]};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
    write(sv[1], "ab", 2);
    T(epoll_wait(ep, out, 8, 0));
    printf("et fd ok=%d events=%#x\n", out[0].data.fd == sv[0], out[0].events);
    T(epoll_wait(ep, out, 8, 0));
    write(sv[1], "c", 1);
    T(epoll_wait(ep, out, 8, 0));
    read(sv[0], buf, 10);
    T(epoll_wait(ep, out, 8, 0));
    /* oneshot */
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.fd = efd};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
    v = 1;
    write(efd, &v, 8);
    T(epoll_wait(ep, out, 8, 0));
    T(epoll_wait(ep, out, 8, 0));
    T(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
    T(epoll_wait(ep, out, 8, 0));
    /* EPOLLOUT and hangup */
    ev = (struct epoll_event){.events = EPOLLOUT, .data.fd = p[1]};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
    T(epoll_wait(ep, out, 8, 0));
    printf("out events=%#x\n", out[0].events);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    close(sv[1]);
    T(epoll_wait(ep, out, 8, 0));
    printf("hup events=%#x\n", out[0].events);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL));
    /* a closed fd leaves the interest list */
    int p2[2];
    Q(pipe(p2));
    ev = (struct epoll_event){.events = EPOLLIN, .data.fd = 77};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p2[0], &ev));
    write(p2[1], "z", 1);
    close(p2[0]);
    T(epoll_wait(ep, out, 8, 0));
    /* nested epoll */
    int ep2 = epoll_create1(0);
    ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = 5};
    T(epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, ep2, &ev));
    T(epoll_wait(ep2, out, 8, 0));
    write(p[1], "n", 1);
    T(epoll_wait(ep2, out, 8, 0));
    printf("nested data=%u\n", out[0].data.u32);
    pf[0] = (struct pollfd){ep, POLLIN, 0};
    T(poll(pf, 1, 0));
    printf("epoll fd revents=%#x\n", pf[0].revents);
    read(p[0], buf, 1);
    /* blocked epoll_wait woken by a child */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        usleep(20000);
        write(p[1], "w", 1);
        _exit(0);
    }
    T(epoll_wait(ep, out, 8, 5000));
    waitpid(pid, &status, 0);
    sigset_t mask;
    sigemptyset(&mask);
    T(epoll_pwait(ep, out, 8, 0, &mask));
    return 0;
}
