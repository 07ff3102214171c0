/* CPU-time interval timers: ITIMER_VIRTUAL and ITIMER_PROF fire while the process computes and not while
   it sleeps; getitimer/setitimer report the interval and a remaining value inside it; a one-shot timer
   disarms itself; a forked child starts with none. Output is deterministic on Linux and lxfs. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t vt, prof;

static void on_vt(int s) { (void)s; vt++; }
static void on_prof(int s) { (void)s; prof++; }

static void spin_until(volatile sig_atomic_t *count, int n) {
    volatile unsigned long x = 0;
    while (*count < n) x++;
}

static void show(const char *what, int which, long interval_us) {
    struct itimerval cur;
    getitimer(which, &cur);
    long left = cur.it_value.tv_sec * 1000000 + cur.it_value.tv_usec;
    long iv = cur.it_interval.tv_sec * 1000000 + cur.it_interval.tv_usec;
    /* Linux adds a tick (4 ms at HZ=250) to the first expiry */
    printf("%s: interval %ld, left within (0, %ld + 4000]: %d\n", what, iv, interval_us,
           left > 0 && left <= interval_us + 4000);
}

int main(void) {
    signal(SIGVTALRM, on_vt);
    signal(SIGPROF, on_prof);
    struct itimerval t = {{0, 20000}, {0, 20000}}, old;
    setitimer(ITIMER_VIRTUAL, &t, NULL);
    show("virtual armed", ITIMER_VIRTUAL, 20000);
    spin_until(&vt, 5);
    printf("virtual fired %d times while computing\n", (int)vt);
    setitimer(ITIMER_VIRTUAL, &(struct itimerval){{0, 0}, {0, 0}}, &old);
    printf("old interval %ld\n", old.it_interval.tv_usec);

    /* sleeping costs no CPU time: a 30 ms virtual timer does not fire during 200 ms of sleep */
    vt = 0;
    struct itimerval once = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_VIRTUAL, &once, NULL);
    struct timespec nap = {0, 200000000};
    nanosleep(&nap, NULL);
    printf("virtual fired %d times while sleeping\n", (int)vt);
    spin_until(&vt, 1);
    struct itimerval cur;
    getitimer(ITIMER_VIRTUAL, &cur);
    printf("one-shot fired %d, then disarmed: %d\n", (int)vt, cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);

    setitimer(ITIMER_PROF, &t, NULL);
    show("prof armed", ITIMER_PROF, 20000);
    spin_until(&prof, 3);
    printf("prof fired %d times\n", (int)prof);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        getitimer(ITIMER_PROF, &cur);
        printf("child inherits prof timer: %d\n", cur.it_value.tv_sec != 0 || cur.it_value.tv_usec != 0);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    setitimer(ITIMER_PROF, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
    printf("done\n");
    return 0;
}
