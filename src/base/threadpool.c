/* threadpool.c — persistent worker threads woken by a generation counter (see threadpool.h).
 *
 * One 64-bit atomic word carries the job: its high half is the generation (bumped once per
 * threadpool_run) and its low half the number of tasks not yet claimed. Every thread, the
 * caller included, claims a task by a compare-and-swap that decrements the low half only while
 * the high half is still the generation it woke up for, so a worker that wakes late finds
 * either nothing left or a newer generation, and never runs a stale task. The caller returns
 * once n_done reaches n_tasks; it never waits for a worker that has claimed nothing, so a
 * descheduled idle worker (an oversubscribed machine) costs it nothing.
 *
 *   caller:  publish job ─ word = (gen+1, n) ─ claim & run ─┬─ wait n_done == n ─ return
 *   worker:  spin/sleep until gen changes ──────────────────┴─ claim & run ─ spin/sleep ...
 *
 * The job's fields are read only after a successful claim: the claim's acquire pairs with the
 * release that published the word, and the caller rewrites them only after every claimed task
 * has released its n_done increment. Waiting is a short spin (a forward pass issues the next
 * loop within microseconds) and then a condvar sleep, so an idle pool burns no CPU.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, sched_getaffinity, CPU_* */

#include "base/threadpool.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long an idle worker spins before it sleeps, and how often the spin reads the clock. */
#define THREADPOOL_SPIN_NS    200000
#define THREADPOOL_SPIN_CHECK 64

struct threadpool_worker {
    struct threadpool *pool;
    uint32_t index; /* 1..n_threads-1 */
    int cpu;        /* CPU to pin to, or -1 */
    pthread_t thread;
};

struct threadpool {
    uint32_t n_threads;                /* counting the caller */
    struct threadpool_worker *workers; /* [n_threads - 1] */

    pthread_mutex_t mutex;
    pthread_cond_t wake;
    uint32_t n_sleeping; /* guarded by mutex */

    _Atomic uint64_t word;   /* generation << 32 | tasks not yet claimed */
    _Atomic uint32_t n_done; /* tasks of the current job that have returned */
    _Atomic bool stop;

    /* The current job, written by the caller before it publishes the word. */
    void (*fn)(void *ctx, uint32_t task, uint32_t worker);
    void *ctx;
};

/* A hint to the core that this is a spin-wait loop. */
static inline void threadpool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t threadpool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t threadpool_default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (uint32_t)n;
    }
    return 1;
}

/* The index of the `nth` CPU (0-based) in this process's affinity mask, or -1. */
static int threadpool_nth_cpu(uint32_t nth)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -1;
    uint32_t seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        if (seen++ == nth)
            return cpu;
    }
    return -1;
}

/* Claims and runs tasks of generation `gen` until none are left or a newer job is out. */
static void threadpool_work(struct threadpool *pool, uint32_t gen, uint32_t worker)
{
    uint64_t w = atomic_load_explicit(&pool->word, memory_order_relaxed);
    for (;;) {
        if ((uint32_t)(w >> 32) != gen || (uint32_t)w == 0)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->word, &w, w - 1, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        pool->fn(pool->ctx, (uint32_t)w - 1, worker);
        atomic_fetch_add_explicit(&pool->n_done, 1, memory_order_release);
        w = atomic_load_explicit(&pool->word, memory_order_relaxed);
    }
}

static uint32_t threadpool_generation(struct threadpool *pool)
{
    return (uint32_t)(atomic_load_explicit(&pool->word, memory_order_acquire) >> 32);
}

/* Waits until the generation differs from `seen` and returns the new one. */
static uint32_t threadpool_wait(struct threadpool *pool, uint32_t seen)
{
    uint64_t start = 0;
    for (uint32_t spin = 0;; spin++) {
        uint32_t gen = threadpool_generation(pool);
        if (gen != seen)
            return gen;
        threadpool_relax();
        if (spin % THREADPOOL_SPIN_CHECK != THREADPOOL_SPIN_CHECK - 1)
            continue;
        uint64_t now = threadpool_now_ns();
        if (start == 0)
            start = now;
        else if (now - start > THREADPOOL_SPIN_NS)
            break;
    }
    /* The caller bumps the generation under the mutex, so it cannot slip in between this check
     * and the wait. */
    pthread_mutex_lock(&pool->mutex);
    pool->n_sleeping++;
    uint32_t gen;
    while ((gen = threadpool_generation(pool)) == seen)
        pthread_cond_wait(&pool->wake, &pool->mutex);
    pool->n_sleeping--;
    pthread_mutex_unlock(&pool->mutex);
    return gen;
}

static void *threadpool_main(void *arg)
{
    struct threadpool_worker *w = arg;
    struct threadpool *pool = w->pool;
    if (w->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
    }
    uint32_t seen = 0;
    for (;;) {
        seen = threadpool_wait(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_relaxed))
            return NULL;
        threadpool_work(pool, seen, w->index);
    }
}

/* Publishes generation + 1 with n_tasks unclaimed tasks and wakes the sleepers; returns the
 * new generation. */
static uint32_t threadpool_publish(struct threadpool *pool, uint32_t n_tasks)
{
    pthread_mutex_lock(&pool->mutex);
    uint64_t w = atomic_load_explicit(&pool->word, memory_order_relaxed);
    uint32_t gen = (uint32_t)(w >> 32) + 1;
    atomic_store_explicit(&pool->word, (uint64_t)gen << 32 | n_tasks, memory_order_release);
    if (pool->n_sleeping > 0)
        pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    return gen;
}

/* Stops and joins the first n_started workers. */
static void threadpool_stop(struct threadpool *pool, uint32_t n_started)
{
    atomic_store_explicit(&pool->stop, true, memory_order_relaxed);
    threadpool_publish(pool, 0);
    for (uint32_t i = 0; i < n_started; i++)
        pthread_join(pool->workers[i].thread, NULL);
}

enum gptoss_status threadpool_create(uint32_t n_threads, bool pin, struct threadpool **pool_out)
{
    *pool_out = NULL;
    if (n_threads == 0)
        n_threads = threadpool_default_threads();
    struct threadpool *pool = xcalloc(1, sizeof(*pool));
    pool->n_threads = n_threads;
    pool->workers = xcalloc(n_threads, sizeof(*pool->workers));
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    atomic_init(&pool->word, 0);
    atomic_init(&pool->n_done, 0);
    atomic_init(&pool->stop, false);

    for (uint32_t i = 0; i + 1 < n_threads; i++) {
        struct threadpool_worker *w = &pool->workers[i];
        w->pool = pool;
        w->index = i + 1;
        w->cpu = pin ? threadpool_nth_cpu(i + 1) : -1;
        int rc = pthread_create(&w->thread, NULL, threadpool_main, w);
        if (rc != 0) {
            threadpool_stop(pool, i);
            pthread_cond_destroy(&pool->wake);
            pthread_mutex_destroy(&pool->mutex);
            free(pool->workers);
            free(pool);
            return error_set(GPTOSS_ERR_INTERNAL, "threadpool: cannot start thread %u of %u: %s",
                             i + 2, n_threads, strerror(rc));
        }
    }
    *pool_out = pool;
    return GPTOSS_OK;
}

void threadpool_destroy(struct threadpool *pool)
{
    if (!pool)
        return;
    threadpool_stop(pool, pool->n_threads - 1);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

uint32_t threadpool_n_threads(const struct threadpool *pool)
{
    return pool ? pool->n_threads : 1;
}

void threadpool_run(struct threadpool *pool, uint32_t n_tasks,
                    void (*fn)(void *ctx, uint32_t task, uint32_t worker), void *ctx)
{
    if (!pool || pool->n_threads == 1 || n_tasks <= 1) {
        for (uint32_t t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    uint32_t gen = threadpool_publish(pool, n_tasks);

    threadpool_work(pool, gen, 0);

    /* Tasks that workers claimed are still running: usually a few microseconds, unless one
     * was descheduled, in which case yielding lets it run. */
    for (uint32_t spin = 0; atomic_load_explicit(&pool->n_done, memory_order_acquire) != n_tasks;
         spin++) {
        if (spin < 20000)
            threadpool_relax();
        else
            sched_yield();
    }
}
