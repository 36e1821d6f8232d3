/* test_comm.c — the thread implementation of comm.h: all-reduce, gather and broadcast between
 * 1 to 5 ranks, with every rank checking what it got (exact: the values are small integers),
 * repeated so that a barrier that lets one rank run ahead shows up as a wrong sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "comm/comm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 200

struct rank_run {
    struct comm *c;
    int failures;
};

static void *rank_main(void *arg)
{
    struct rank_run *run = arg;
    struct comm *c = run->c;
    uint32_t r = c->rank, n = c->size;
    for (int round = 0; round < ROUNDS; round++) {
        /* all-reduce of 1..33 floats: element i of rank r holds r * 100 + i + round */
        size_t len = 1 + (size_t)(round % 33);
        float buf[33];
        for (size_t i = 0; i < len; i++)
            buf[i] = (float)(r * 100 + i + round);
        if (comm_allreduce_sum(c, buf, len) != GPTOSS_OK)
            run->failures++;
        for (size_t i = 0; i < len; i++) {
            float want = (float)(100 * n * (n - 1) / 2 + n * (i + round));
            run->failures += buf[i] != want;
        }
        /* broadcast of rank 0's bytes */
        char msg[64];
        memset(msg, r == 0 ? 'a' + round % 26 : 0, sizeof msg);
        if (comm_bcast(c, msg, sizeof msg) != GPTOSS_OK)
            run->failures++;
        for (size_t i = 0; i < sizeof msg; i++)
            run->failures += msg[i] != 'a' + round % 26;
        /* gather: rank k sends k + round % 3 floats (rank 0 may send none) */
        size_t counts[8], total = 0;
        for (uint32_t k = 0; k < n; k++)
            total += counts[k] = k + (size_t)(round % 3);
        float send[16], recv[64];
        for (size_t i = 0; i < counts[r]; i++)
            send[i] = (float)(r * 1000 + i);
        memset(recv, 0, sizeof recv);
        if (comm_gather(c, send, r == 0 ? recv : NULL, counts) != GPTOSS_OK)
            run->failures++;
        if (r == 0) {
            size_t at = 0;
            for (uint32_t k = 0; k < n; k++)
                for (size_t i = 0; i < counts[k]; i++)
                    run->failures += recv[at++] != (float)(k * 1000 + i);
            run->failures += at != total;
        }
    }
    comm_destroy(c);
    return NULL;
}

static void run_group(uint32_t n)
{
    struct comm *comms[8];
    assert_int_equal(comm_threads_create(n, comms), GPTOSS_OK);
    struct rank_run runs[8];
    pthread_t th[8];
    for (uint32_t r = 0; r < n; r++) {
        assert_int_equal(comms[r]->rank, r);
        assert_int_equal(comms[r]->size, n);
        runs[r] = (struct rank_run){comms[r], 0};
        assert_int_equal(pthread_create(&th[r], NULL, rank_main, &runs[r]), 0);
    }
    for (uint32_t r = 0; r < n; r++) {
        pthread_join(th[r], NULL);
        assert_int_equal(runs[r].failures, 0);
    }
}

static void test_threads_1(void **state)
{
    (void)state;
    run_group(1);
}

static void test_threads_2(void **state)
{
    (void)state;
    run_group(2);
}

static void test_threads_5(void **state)
{
    (void)state;
    run_group(5);
}

static void test_threads_zero(void **state)
{
    (void)state;
    struct comm *c[1];
    assert_int_equal(comm_threads_create(0, c), GPTOSS_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_1),
        cmocka_unit_test(test_threads_2),
        cmocka_unit_test(test_threads_5),
        cmocka_unit_test(test_threads_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
