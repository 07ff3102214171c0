/* Lock-free increments from four threads: every preemption must resume exactly where the CPU stopped
   (an instruction run twice shows up as a count above the expected total). */
#include <pthread.h>
#include <stdio.h>

static long counter;
static volatile long plain;

static void *work(void *arg) {
    for (int i = 0; i < 1000000; i++) __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
    return arg;
}

int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, work, NULL);
    work(NULL);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3000000; i++) plain++;
    printf("%ld %ld\n", counter, plain);
    return 0;
}
