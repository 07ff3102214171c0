/* A signal handler starts with Linux's initial FPU state (xmm zero, default rounding) and the
   interrupted state comes back after sigreturn. */
#include <fenv.h>
#include <signal.h>
#include <stdio.h>

static volatile unsigned long long seen_low;
static volatile int seen_round;

static void handler(int sig) {
    unsigned long long v;
    __asm__ volatile("movq %%xmm5, %0" : "=r"(v));
    seen_low = v;
    seen_round = fegetround();
}

int main(void) {
    signal(SIGUSR1, handler);
    fesetround(FE_UPWARD);
    unsigned long long in = 0x1234567890abcdefULL, out;
    __asm__ volatile("movq %0, %%xmm5" : : "r"(in) : "xmm5");
    raise(SIGUSR1);
    __asm__ volatile("movq %%xmm5, %0" : "=r"(out));
    printf("handler: xmm5=%llx round_nearest=%d\n", seen_low, seen_round == FE_TONEAREST);
    printf("after: xmm5=%llx round_upward=%d\n", out, fegetround() == FE_UPWARD);
    volatile double third = 1.0 / 3.0;
    printf("%.20f\n", third);
    return 0;
}
