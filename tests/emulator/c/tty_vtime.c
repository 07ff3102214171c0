/* Non-canonical pty reads with VTIME (run natively and in lxfs): VMIN=0 returns 0 when VTIME runs out
   with no input; VMIN>0 returns what arrived once the inter-byte timer runs out. Nothing else wakes
   the reader, so only a timer can end these reads. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timed_read(int fd, const char *what, double lo, double hi) {
    char buf[16];
    double t0 = now();
    ssize_t n = read(fd, buf, sizeof buf);
    double dt = now() - t0;
    printf("%s: read %zd, in time %d\n", what, n, dt >= lo && dt < hi);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) return 1;
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 3;
    tcsetattr(s, TCSANOW, &t);
    timed_read(s, "VMIN=0 VTIME=3, no input", 0.25, 3.0);
    t.c_cc[VMIN] = 5;
    t.c_cc[VTIME] = 2;
    tcsetattr(s, TCSANOW, &t);
    write(m, "ab", 2);
    timed_read(s, "VMIN=5 VTIME=2, two bytes", 0.15, 3.0);
    return 0;
}
