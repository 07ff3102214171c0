/* pthreads: mutex-protected counter, condition variable producer/consumer, join values, TLS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NTHREADS 4
#define ITERS 20000
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int queue[16], qlen, produced, consumed_sum;
static __thread int tls_value;

static void *adder(void *arg) {
    tls_value = (int)(long)arg;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)(tls_value * 100);
}

static void *producer(void *arg) {
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&lock);
        while (qlen == 16) pthread_cond_wait(&cond, &lock);
        queue[qlen++] = i;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    for (int n = 0; n < 500; n++) {
        pthread_mutex_lock(&lock);
        while (qlen == 0) pthread_cond_wait(&cond, &lock);
        consumed_sum += queue[--qlen];
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void) {
    pthread_t t[NTHREADS];
    tls_value = 7;
    for (long i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, adder, (void *)(i + 1));
    long sum = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("counter=%ld joined=%ld main_tls=%d\n", counter, sum, tls_value);
    pthread_t p, c1, c2;
    pthread_create(&c1, NULL, consumer, NULL);
    pthread_create(&c2, NULL, consumer, NULL);
    pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c1, NULL);
    pthread_join(c2, NULL);
    printf("consumed_sum=%d qlen=%d\n", consumed_sum, qlen);
    return 0;
}
