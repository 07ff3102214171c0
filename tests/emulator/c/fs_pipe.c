/* Pipes and FIFOs: pipe2 flags, EOF, EAGAIN, EPIPE and SIGPIPE, FIONREAD, capacity, blocking
 * readers and writers across fork, ioctl on non-ttys. */
#include "fs_common.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile int got_sigpipe, alarms;
static void on_sigpipe(int sig) { got_sigpipe = sig; }
static void on_alarm(int sig) { alarms++; }

int main(void) {
    int p[2];
    char buf[70000];
    int n;
    T(pipe(p));
    T(fcntl(p[0], F_GETFL) & O_ACCMODE);
    T(fcntl(p[1], F_GETFL) & O_ACCMODE);
    T(write(p[1], "hello", 5));
    T(ioctl(p[0], FIONREAD, &n));
    printf("fionread=%d\n", n);
    T(read(p[0], buf, 2));
    T(read(p[0], buf, 100));
    T(write(p[0], "x", 1));
    T(read(p[1], buf, 1));
    T(lseek(p[0], 0, SEEK_SET));
    T(ioctl(p[0], TCGETS, buf));
    struct stat st;
    T(fstat(p[0], &st));
    printf("fifo=%d mode=%o\n", S_ISFIFO(st.st_mode), st.st_mode & 0777);
    T(fcntl(p[0], F_GETPIPE_SZ));
    close(p[1]);
    T(read(p[0], buf, 10));
    close(p[0]);

    T(pipe2(p, O_NONBLOCK | O_CLOEXEC));
    T(fcntl(p[0], F_GETFD));
    T(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    T(read(p[0], buf, 10));
    memset(buf, 'x', sizeof buf);
    long total = 0;
    for (;;) {
        long w = write(p[1], buf, 4096);
        if (w < 0) {
            printf("filled: %ld %s\n", total, errname(errno));
            break;
        }
        total += w;
    }
    T(write(p[1], buf, 1));
    T(read(p[0], buf, 4096));
    T(write(p[1], buf, 8192));
    close(p[0]);
    close(p[1]);
    T(pipe2(p, O_DIRECT << 4));

    /* EPIPE without and with SIGPIPE */
    T(pipe(p));
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    T(write(p[1], "x", 1));
    signal(SIGPIPE, on_sigpipe);
    T(write(p[1], "x", 1));
    printf("sigpipe handler got %d\n", got_sigpipe);
    close(p[1]);
    fflush(stdout);
    signal(SIGPIPE, SIG_DFL);
    T(pipe(p));
    close(p[0]);
    pid_t pid = fork();
    if (pid == 0) {
        write(p[1], "x", 1);
        _exit(3);
    }
    close(p[1]);
    int status;
    waitpid(pid, &status, 0);
    printf("child: signaled=%d sig=%d exited=%d\n", WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0,
           WIFEXITED(status));
    T(pipe(p));
    pid = fork();
    if (pid == 0) {
        close(p[1]);
        usleep(20000);
        close(p[0]);
        _exit(0);
    }
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    long w, sum = 0;
    while ((w = write(p[1], buf, 4096)) > 0)
        sum += w;
    printf("writer stopped: %s after >=64KiB: %d\n", errname(errno), sum >= 65536);
    waitpid(pid, &status, 0);
    close(p[1]);

    /* blocking reader woken by a writer; large writes to a slow reader */
    T(pipe(p));
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        usleep(30000);
        for (int i = 0; i < 5; i++) {
            memset(buf, 'a' + i, 30000);
            long done = 0;
            while (done < 30000) {
                long k = write(p[1], buf + done, 30000 - done);
                if (k <= 0)
                    _exit(1);
                done += k;
            }
        }
        _exit(0);
    }
    close(p[1]);
    long got = 0, r;
    unsigned sum2 = 0;
    while ((r = read(p[0], buf, 7000)) > 0) {
        for (long i = 0; i < r; i++)
            sum2 = sum2 * 31 + (unsigned char)buf[i];
        got += r;
    }
    waitpid(pid, &status, 0);
    printf("read %ld bytes sum=%u status=%d\n", got, sum2, WEXITSTATUS(status));
    close(p[0]);

    /* one blocking write bigger than the pipe returns only when all of it is written */
    T(pipe(p));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(p[1]);
        long t = 0, k;
        usleep(10000);
        while ((k = read(p[0], buf, 5000)) > 0)
            t += k;
        printf("reader got %ld\n", t);
        fflush(stdout);
        _exit(0);
    }
    close(p[0]);
    static char big[300000];
    memset(big, 'q', sizeof big);
    T(write(p[1], big, sizeof big));
    close(p[1]);
    waitpid(pid, &status, 0);

    /* a signal interrupts a blocked pipe read: EINTR without SA_RESTART, restarted with it */
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        int q[2];
        T(pipe(q));
        struct itimerval it = {{0, 0}, {0, 50000}};
        setitimer(ITIMER_REAL, &it, NULL);
        T(read(q[0], buf, 1));
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        fflush(stdout);
        pid_t w = fork();
        if (w == 0) {
            usleep(200000);
            write(q[1], "r", 1);
            _exit(0);
        }
        setitimer(ITIMER_REAL, &it, NULL);
        T(read(q[0], buf, 1));
        printf("alarms=%d\n", alarms);
        waitpid(w, &status, 0);
        close(q[0]);
        close(q[1]);
    }

    /* splice and tee */
    {
        int f = open("spl", O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(f, "0123456789abcdef", 16);
        int a[2], b[2];
        T(pipe(a));
        T(pipe(b));
        loff_t off = 2;
        T(splice(f, &off, a[1], NULL, 5, 0));
        T(off);
        T(lseek(f, 0, SEEK_CUR));
        T(lseek(f, 10, SEEK_SET));
        T(splice(f, NULL, a[1], NULL, 100, 0));
        T(lseek(f, 0, SEEK_CUR));
        T(tee(a[0], b[1], 4, 0));
        T(splice(a[0], NULL, b[1], NULL, 3, 0));
        T(read(b[0], buf, 100));
        printf("[%.7s]\n", buf);
        off = 0;
        T(splice(a[0], NULL, f, &off, 100, 0));
        T(pread(f, buf, 16, 0));
        printf("[%.16s]\n", buf);
        T(splice(f, NULL, f, NULL, 4, 0));
        T(splice(a[0], &off, b[1], NULL, 4, 0));
        T(splice(a[0], NULL, b[1], NULL, 4, SPLICE_F_NONBLOCK));
        T(tee(f, b[1], 4, 0));
        close(a[1]);
        T(splice(a[0], NULL, b[1], NULL, 4, 0));
        close(a[0]);
        close(b[0]);
        close(b[1]);
        close(f);
    }

    /* FIFO */
    T(mkfifo("ff", 0600));
    T(open("ff", O_WRONLY | O_NONBLOCK));
    int rfd = open("ff", O_RDONLY | O_NONBLOCK);
    T(rfd >= 0);
    T(read(rfd, buf, 10));
    int wfd = open("ff", O_WRONLY | O_NONBLOCK);
    T(wfd >= 0);
    T(write(wfd, "fifo!", 5));
    T(read(rfd, buf, 10));
    close(wfd);
    T(read(rfd, buf, 10));
    close(rfd);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int w2 = open("ff", O_WRONLY);
        write(w2, "through fifo", 12);
        _exit(0);
    }
    rfd = open("ff", O_RDONLY);
    long k = 0, m;
    while ((m = read(rfd, buf + k, 100)) > 0)
        k += m;
    printf("fifo read: [%.*s]\n", (int)k, buf);
    waitpid(pid, &status, 0);
    close(rfd);

    /* ioctls on regular files and pipes */
    int fd = open("ff2", O_RDWR | O_CREAT, 0644);
    write(fd, "12345", 5);
    lseek(fd, 1, SEEK_SET);
    T(ioctl(fd, FIONREAD, &n));
    printf("file fionread=%d\n", n);
    T(ioctl(fd, TIOCGWINSZ, buf));
    T(ioctl(fd, 0x12345678, buf));
    T(isatty(fd));
    T(ioctl(99, FIONREAD, &n));
    return 0;
}
