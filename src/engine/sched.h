/* sched.h — the scheduler: which requests run in the next step, and how many tokens each.
 *
 * There are no phases. Every step hands out a token budget (max_num_batched_tokens): first to
 * the running requests in admission order (a decode needs 1 token, an unfinished prompt takes
 * what is left of the budget, so long prompts are prefilled in chunks and never stall
 * streams), then to waiting requests in arrival order while max_num_seqs allows. When the KV
 * pools cannot hold a running request's next tokens, the newest running request is preempted
 * (its blocks released; it waits at the front of the queue to be recomputed) and allocation is
 * retried. Waiting requests never preempt anyone.
 *
 * The scheduler knows nothing of the model: tests drive it with a fake executor.
 */
#ifndef GPTOSS_ENGINE_SCHED_H
#define GPTOSS_ENGINE_SCHED_H

#include "engine/request.h"
#include "kv/kv.h"

struct sched_item {
    struct request *r;
    uint32_t n_new; /* tokens[n_computed .. n_computed + n_new) run this step */
    bool sample;    /* the step completes the known tokens: sample the next one */
};

struct sched {
    struct kv_manager *kv; /* borrowed */
    uint32_t max_num_seqs;
    uint32_t max_num_batched_tokens;
    struct request *waiting_head, *waiting_tail; /* FIFO; preempted requests go to the front */
    uint32_t n_waiting;
    struct request **running; /* [max_num_seqs], oldest admission first */
    uint32_t n_running;
    struct sched_item *items; /* [max_num_seqs] the last schedule */
    uint32_t n_items;
    uint32_t n_tokens; /* in the last schedule */
    uint64_t n_preemptions;
};

void sched_init(struct sched *s, struct kv_manager *kv, uint32_t max_num_seqs,
                uint32_t max_num_batched_tokens);
void sched_deinit(struct sched *s);

/* Queues a new request at the back. */
void sched_add(struct sched *s, struct request *r);

/* Fills s->items for the next step (possibly none, when nothing can run). */
void sched_schedule(struct sched *s);

/* After a step: the scheduled tokens are in the cache; publishes full blocks for prefix
 * caching. Call before sampling appends new tokens. */
void sched_commit(struct sched *s);

/* Takes r out of the waiting or running list and releases its blocks; the caller reports and
 * destroys it. */
void sched_remove(struct sched *s, struct request *r);

#endif
