/* CPU time of a thread group includes threads that exited (Linux's signal->utime): after a burning
   thread is joined, /proc/self/stat, times() and getrusage(RUSAGE_SELF) still count it, also after
   execve; a reaped child's whole group lands in the parent's cutime. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BURN 0.3
#define ENOUGH 25 /* ticks: most of BURN */

static void *burn(void *arg) {
    (void)arg;
    struct timespec ts;
    do clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); while (ts.tv_sec + ts.tv_nsec / 1e9 < BURN);
    return NULL;
}

static void burn_in_thread(void) {
    pthread_t t;
    pthread_create(&t, NULL, burn, NULL);
    pthread_join(t, NULL);
}

static void report(const char *stage) {
    char buf[2048];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')') + 2;
    unsigned long v[20];
    /* fields 3..17 after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
       cmajflt utime stime cutime cstime */
    sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]);
    struct tms tm;
    times(&tm);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double ru_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("%s: stat %d, times %d, rusage %d, stat cutime %d, times cutime %d\n", stage, v[0] + v[1] >= ENOUGH,
           tm.tms_utime + tm.tms_stime >= ENOUGH, ru_s >= ENOUGH / 100.0, v[2] + v[3] >= ENOUGH,
           tm.tms_cutime + tm.tms_cstime >= ENOUGH);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        report("after execve");
        return 0;
    }
    report("start");
    burn_in_thread();
    report("thread joined");
    pid_t c = fork();
    if (c == 0) {
        burn_in_thread();
        _exit(0);
    }
    int st;
    struct rusage ru;
    wait4(c, &st, 0, &ru);
    printf("wait4 rusage of the child %d\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                                                 ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6 >= ENOUGH / 100.0);
    report("child reaped");
    execl("/proc/self/exe", "group_times", "again", (char *)NULL);
    return 1;
}
