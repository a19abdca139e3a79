/* Cache-line ping-pong between CPU 0 and CPU 1: prints the mean round trip in ns.
 *
 * On this VM, idle, it measures either about 80-110 ns (as for cores sharing an L3) or about 400 ns
 * (as for cores on different dies), switching every few minutes; 2-thread latencies of the small
 * CNNs differ by up to 50% between the two (docs/kernels.md, session 11). Load raises it too. bench_vs_ort.py
 * compiles and runs this before and after its runs to record which it was.
 *
 *     cc -O2 -pthread scripts/core_pingpong.c -o /tmp/core_pingpong && /tmp/core_pingpong
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define ROUNDS 200000

static _Alignas(128) atomic_int flag;

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *other(void *arg) {
    (void)arg;
    pin(1);
    for (int i = 0; i < ROUNDS; i++) {
        while (atomic_load(&flag) != 2 * i + 1) {
        }
        atomic_store(&flag, 2 * i + 2);
    }
    return NULL;
}

int main(void) {
    pthread_t t;
    struct timespec a, b;
    pin(0);
    if (pthread_create(&t, NULL, other, NULL) != 0) {
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < ROUNDS; i++) {
        atomic_store(&flag, 2 * i + 1);
        while (atomic_load(&flag) != 2 * i + 2) {
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ROUNDS);
    return 0;
}
