#define _GNU_SOURCE
/* Positions of /dev/null, zero, full, random, urandom: lseek always 0, read/readv/write/sendfile never
   move f_pos (fdinfo "pos:"). Run natively and in lxfs; the output must match. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static long fdinfo_pos(int fd) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY);
    if (f < 0) return -errno;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0) return -1;
    buf[n] = 0;
    long pos = -2;
    sscanf(buf, "pos: %ld", &pos);
    return pos;
}

int main(void) {
    static const char *names[] = {"null", "zero", "full", "random", "urandom"};
    static const struct { long off; int whence; } seeks[] = {
        {100, SEEK_SET}, {5, SEEK_CUR}, {-5, SEEK_CUR}, {7, SEEK_END}, {3, SEEK_DATA}, {3, SEEK_HOLE},
        {1, 5}, {-1, SEEK_SET},
    };
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        char path[32], a[7], b[9];
        snprintf(path, sizeof path, "/dev/%s", names[i]);
        int fd = open(path, O_RDWR);
        printf("%s:", names[i]);
        for (unsigned j = 0; j < sizeof seeks / sizeof *seeks; j++) {
            off_t r = lseek(fd, seeks[j].off, seeks[j].whence);
            printf(" %ld/%d", (long)r, r < 0 ? errno : 0);
        }
        ssize_t n = read(fd, a, sizeof a);
        printf(" read=%zd pos=%ld", n, fdinfo_pos(fd));
        struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
        n = readv(fd, iov, 2);
        printf(" readv=%zd pos=%ld", n, fdinfo_pos(fd));
        n = write(fd, "hello", 5);
        printf(" write=%zd/%d pos=%ld", n, n < 0 ? errno : 0, fdinfo_pos(fd));
        n = writev(fd, iov, 2);
        printf(" writev=%zd/%d pos=%ld", n, n < 0 ? errno : 0, fdinfo_pos(fd));
        int out = open("/dev/null", O_WRONLY);
        if (i) { /* sendfile from /dev/null is EINVAL on Linux (no splice_read); not this test's concern */
            n = sendfile(out, fd, NULL, 100);
            printf(" sendfile=%zd/%d pos=%ld", n, n < 0 ? errno : 0, fdinfo_pos(fd));
        }
        n = pread(fd, a, sizeof a, 12345);
        printf(" pread=%zd pos=%ld cur=%ld\n", n, fdinfo_pos(fd), (long)lseek(fd, 0, SEEK_CUR));
        close(out);
        close(fd);
    }
    return 0;
}
