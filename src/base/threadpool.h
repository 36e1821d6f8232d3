/* threadpool.h — a persistent pool of worker threads that runs one parallel loop at a time.
 *
 * The CPU backend splits each heavy op (a matmul, an attention call) into tasks and hands them
 * to threadpool_run(), which returns once every task has run. The threads are created once with
 * the pool and live until it is destroyed; between loops they spin briefly on a generation
 * counter (a loop follows the previous one within microseconds during a forward pass) and then
 * sleep on a condition variable, so an idle pool costs nothing. The calling thread takes part
 * as worker 0, so a pool of N threads starts N - 1 of its own.
 *
 * One thread at a time: threadpool_run() must not be called concurrently on the same pool (the
 * model's step thread is its only user). Tasks are handed out dynamically, so which worker runs
 * which task varies from call to call; callers that need reproducible numbers must make each
 * task's result independent of the worker that runs it.
 */
#ifndef GPTOSS_BASE_THREADPOOL_H
#define GPTOSS_BASE_THREADPOOL_H

#include "gptoss.h"

#include <stdbool.h>
#include <stdint.h>

struct threadpool;

/* The number of CPUs this process may run on (its affinity mask), at least 1. */
uint32_t threadpool_default_threads(void);

/* Creates a pool of n_threads threads counting the caller (0 means
 * threadpool_default_threads()). With pin, worker w (1..n-1) is bound to the w-th CPU of the
 * process's affinity mask, best effort: a failure to pin is ignored; the calling thread is
 * never pinned. On success stores the pool in *pool_out and returns GPTOSS_OK; when a thread
 * cannot be started stores NULL and returns GPTOSS_ERR_INTERNAL. */
enum gptoss_status threadpool_create(uint32_t n_threads, bool pin, struct threadpool **pool_out);

/* Stops and joins the workers. NULL is a no-op. Not while a threadpool_run() is in progress. */
void threadpool_destroy(struct threadpool *pool);

/* Threads in the pool, counting the caller; 1 for a NULL pool. */
uint32_t threadpool_n_threads(const struct threadpool *pool);

/* Calls fn(ctx, task, worker) once for every task in 0..n_tasks-1 and returns when all have
 * returned. `worker` (0..n_threads-1, 0 being the calling thread) identifies the thread, so fn
 * may use per-worker scratch memory; two calls never share a worker index at the same time.
 * Every write made by a task is visible to the caller on return. A NULL pool, a one-thread pool
 * or a single task runs everything on the calling thread. */
void threadpool_run(struct threadpool *pool, uint32_t n_tasks,
                    void (*fn)(void *ctx, uint32_t task, uint32_t worker), void *ctx);

#endif
