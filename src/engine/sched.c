/* sched.c — see sched.h for the policy. */
#include "engine/sched.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>

void sched_init(struct sched *s, struct kv_manager *kv, uint32_t max_num_seqs,
                uint32_t max_num_batched_tokens)
{
    memset(s, 0, sizeof(*s));
    s->kv = kv;
    s->max_num_seqs = max_num_seqs;
    s->max_num_batched_tokens = max_num_batched_tokens;
    s->running = xcalloc(max_num_seqs, sizeof(*s->running));
    s->items = xcalloc(max_num_seqs, sizeof(*s->items));
}

void sched_deinit(struct sched *s)
{
    free(s->running);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

void sched_add(struct sched *s, struct request *r)
{
    r->state = REQUEST_WAITING;
    r->next = NULL;
    if (s->waiting_tail)
        s->waiting_tail->next = r;
    else
        s->waiting_head = r;
    s->waiting_tail = r;
    s->n_waiting++;
}

static void waiting_push_front(struct sched *s, struct request *r)
{
    r->next = s->waiting_head;
    s->waiting_head = r;
    if (!s->waiting_tail)
        s->waiting_tail = r;
    s->n_waiting++;
}

static struct request *waiting_pop_front(struct sched *s)
{
    struct request *r = s->waiting_head;
    s->waiting_head = r->next;
    if (!s->waiting_head)
        s->waiting_tail = NULL;
    r->next = NULL;
    s->n_waiting--;
    return r;
}

static void running_remove_at(struct sched *s, uint32_t i)
{
    memmove(s->running + i, s->running + i + 1, (s->n_running - i - 1) * sizeof(*s->running));
    s->n_running--;
}

/* Releases the newest running request's blocks and queues it first for recomputation. */
static void preempt_newest(struct sched *s)
{
    struct request *r = s->running[s->n_running - 1];
    running_remove_at(s, s->n_running - 1);
    kv_manager_release(s->kv, &r->kv);
    r->n_computed = 0;
    r->state = REQUEST_PREEMPTED;
    waiting_push_front(s, r);
    s->n_preemptions++;
}

static void item_add(struct sched *s, struct request *r, uint32_t n_new)
{
    struct sched_item *it = &s->items[s->n_items++];
    it->r = r;
    it->n_new = n_new;
    it->sample = r->n_computed + n_new == r->n_tokens;
    s->n_tokens += n_new;
}

void sched_schedule(struct sched *s)
{
    s->n_items = 0;
    s->n_tokens = 0;
    uint32_t budget = s->max_num_batched_tokens;

    /* Running requests, oldest first; preemption takes from the newest end. */
    for (uint32_t i = 0; i < s->n_running && budget > 0;) {
        struct request *r = s->running[i];
        uint32_t n_new = r->n_tokens - r->n_computed;
        if (n_new > budget)
            n_new = budget;
        if (n_new == 0) {
            i++;
            continue;
        }
        bool ok = kv_manager_allocate(s->kv, &r->kv, r->n_computed, n_new);
        while (!ok && s->running[s->n_running - 1] != r) {
            preempt_newest(s);
            ok = kv_manager_allocate(s->kv, &r->kv, r->n_computed, n_new);
        }
        if (!ok) {
            /* r is the newest left and still does not fit: it waits for others to finish. */
            preempt_newest(s);
            continue;
        }
        item_add(s, r, n_new);
        budget -= n_new;
        i++;
    }

    /* Waiting requests in order, while there is room; a request that does not fit stops the
     * queue so that arrival order is kept. */
    while (s->waiting_head && budget > 0 && s->n_running < s->max_num_seqs) {
        struct request *r = s->waiting_head;
        if (r->kv.n_entries == 0 && r->n_computed == 0) {
            uint32_t hit = kv_manager_match_prefix(s->kv, &r->kv, r->tokens, r->n_tokens);
            r->n_computed = hit;
            if (!r->admitted_once)
                r->n_cached = hit < r->n_prompt ? hit : r->n_prompt;
        }
        uint32_t n_new = r->n_tokens - r->n_computed;
        if (n_new > budget)
            n_new = budget;
        if (!kv_manager_allocate(s->kv, &r->kv, r->n_computed, n_new)) {
            if (s->n_running == 0 && s->n_items == 0) {
                /* Nothing else holds blocks, so cached prefixes are all that is left: give
                 * the request a fresh start rather than wait forever. */
                kv_manager_release(s->kv, &r->kv);
                kv_manager_reset_prefix_cache(s->kv);
                r->n_computed = 0;
                if (!kv_manager_allocate(s->kv, &r->kv, 0, n_new))
                    break;
            } else {
                /* Let go of any cached prefix it took, so running requests can use them. */
                kv_manager_release(s->kv, &r->kv);
                r->n_computed = 0;
                break;
            }
        }
        waiting_pop_front(s);
        r->state = REQUEST_RUNNING;
        r->admitted_once = true;
        s->running[s->n_running++] = r;
        item_add(s, r, n_new);
        budget -= n_new;
    }
}

void sched_commit(struct sched *s)
{
    for (uint32_t i = 0; i < s->n_items; i++) {
        struct request *r = s->items[i].r;
        r->n_computed += s->items[i].n_new;
        kv_manager_commit(s->kv, &r->kv, r->tokens, r->n_computed);
    }
}

void sched_remove(struct sched *s, struct request *r)
{
    for (uint32_t i = 0; i < s->n_running; i++)
        if (s->running[i] == r) {
            running_remove_at(s, i);
            break;
        }
    struct request **link = &s->waiting_head, *prev = NULL;
    while (*link && *link != r) {
        prev = *link;
        link = &(*link)->next;
    }
    if (*link) {
        *link = r->next;
        if (s->waiting_tail == r)
            s->waiting_tail = prev;
        s->n_waiting--;
    }
    r->next = NULL;
    kv_manager_release(s->kv, &r->kv);
}
