/* model_int8.c — --weights int8: the attention projections and the unembedding requantised at
 * load time to int8 with one f32 scale per row.
 *
 * Decode reads every non-expert weight once per token, and in the Hub checkpoint those are
 * bf16: q/k/v/o and the unembedding are 2.4 of the 3.7 GB a gpt-oss-20b token reads. Per-row
 * int8 halves them. A row's scale is max|w| / 127 and each weight rounds to the nearest
 * multiple (|w| <= max|w|, so no clamp is needed), so the error per weight is at most half a step;
 * the backend sums the int8 values against f32 activations and multiplies by the scale once per
 * output. The embedding, norms, router, biases and sinks stay as they are (they are read a row at a
 * time or are tiny).
 */
#include "model/model_internal.h"

#include "base/error.h"
#include "base/pages.h"
#include "base/threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct int8_job {
    const struct tensor *src; /* F32 or BF16 (rows, cols) */
    const float *row_amax;    /* NULL, or each row's max |w| to scale by (o_row_amax) */
    int8_t *q;
    float *scales;
};

struct int8_run {
    struct int8_job *jobs;
    size_t n_jobs;
    uint64_t rows_per_task;
    uint64_t *first_task; /* [n_jobs + 1] */
};

/* Row r of src → q[0..cols) and its scale. Rounds half away from zero. Plain loops over the
 * bf16 bits, which the compiler vectorises: a positive bf16's bits order like its value, so
 * the largest magnitude is the largest (bits & 0x7fff). */
static void int8_row(const struct tensor *src, uint64_t r, uint64_t cols, const float *given,
                     int8_t *q, float *scale_out)
{
    float amax = 0.0f;
    if (given) {
        amax = given[r];
    } else if (src->dtype == DTYPE_BF16) {
        const uint16_t *w = (const uint16_t *)src->data + r * cols;
        uint16_t top = 0;
        for (uint64_t c = 0; c < cols; c++) {
            uint16_t m = w[c] & 0x7fffu;
            top = m > top ? m : top;
        }
        amax = bf16_to_f32(top);
    } else {
        for (uint64_t c = 0; c < cols; c++) {
            float a = fabsf(tensor_get_f32(src, r * cols + c));
            amax = a > amax ? a : amax;
        }
    }
    float inv = amax > 0.0f && isfinite(amax) ? 127.0f / amax : 0.0f;
    if (src->dtype == DTYPE_BF16) {
        const uint16_t *w = (const uint16_t *)src->data + r * cols;
        for (uint64_t c = 0; c < cols; c++) {
            float v = bf16_to_f32(w[c]) * inv;
            q[c] = (int8_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
        }
    } else {
        for (uint64_t c = 0; c < cols; c++) {
            float v = tensor_get_f32(src, r * cols + c) * inv;
            q[c] = (int8_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
        }
    }
    *scale_out = amax / 127.0f;
}

static void int8_task(void *arg, uint32_t task, uint32_t worker)
{
    (void)worker;
    const struct int8_run *run = arg;
    size_t j = 0;
    while (run->first_task[j + 1] <= task)
        j++;
    const struct int8_job *job = &run->jobs[j];
    uint64_t rows = job->src->shape[0], cols = job->src->shape[1];
    uint64_t r0 = (task - run->first_task[j]) * run->rows_per_task;
    uint64_t r1 = r0 + run->rows_per_task < rows ? r0 + run->rows_per_task : rows;
    for (uint64_t r = r0; r < r1; r++)
        int8_row(job->src, r, cols, job->row_amax, job->q + r * cols, &job->scales[r]);
}

enum gptoss_status model_weights_to_int8(struct model *model, uint32_t n_threads)
{
    const struct model_config *c = &model->config;
    struct model_weights *w = model->weights;
    size_t n_jobs = (size_t)c->n_layers * 4 + 1;
    struct tensor **targets = calloc(n_jobs, sizeof(*targets));
    struct int8_job *jobs = calloc(n_jobs, sizeof(*jobs));
    const float **amaxes = calloc(n_jobs, sizeof(*amaxes));
    uint64_t *first = calloc(n_jobs + 1, sizeof(*first));
    if (!targets || !jobs || !first || !amaxes) {
        free(amaxes);
        free(targets);
        free(jobs);
        free(first);
        return error_set(GPTOSS_ERR_NOMEM, "cannot plan the int8 weights");
    }
    size_t t = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        targets[t++] = &w->layers[l].q;
        targets[t++] = &w->layers[l].k;
        targets[t++] = &w->layers[l].v;
        amaxes[t] = w->layers[l].o_row_amax;
        targets[t++] = &w->layers[l].o;
    }
    targets[t++] = &w->lm_head;

    /* One allocation: every matrix's int8 values, then every scale. */
    uint64_t bytes = 0, n_rows = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        bytes += targets[j]->shape[0] * targets[j]->shape[1];
        n_rows += targets[j]->shape[0];
    }
    bytes = (bytes + 63) / 64 * 64;
    size_t store_bytes = bytes + n_rows * sizeof(float);
    void *store = pages_alloc(store_bytes); /* streamed every token: on huge pages (pages.h) */
    if (!store) {
        free(amaxes);
        free(targets);
        free(jobs);
        free(first);
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate %.2f GB of int8 weights",
                         store_bytes / 1e9);
    }
    int8_t *q = store;
    float *scales = (float *)((char *)store + bytes);
    const uint64_t rows_per_task = 256;
    for (size_t j = 0; j < n_jobs; j++) {
        jobs[j] = (struct int8_job){targets[j], amaxes[j], q, scales};
        q += targets[j]->shape[0] * targets[j]->shape[1];
        scales += targets[j]->shape[0];
        first[j + 1] = first[j] + (targets[j]->shape[0] + rows_per_task - 1) / rows_per_task;
    }
    struct int8_run run = {jobs, n_jobs, rows_per_task, first};
    struct threadpool *pool = NULL;
    if (threadpool_create(n_threads, /*pin=*/false, &pool) != GPTOSS_OK)
        pool = NULL; /* one thread, slower */
    threadpool_run(pool, (uint32_t)first[n_jobs], int8_task, &run);
    threadpool_destroy(pool);

    for (size_t j = 0; j < n_jobs; j++) {
        struct tensor *dst = targets[j];
        dst->dtype = DTYPE_I8;
        dst->data = jobs[j].q;
        dst->row_scales = jobs[j].scales;
        dst->n_bytes = dst->shape[0] * dst->shape[1] + dst->shape[0] * sizeof(float);
    }
    model->int8_store = store;
    model->int8_store_bytes = store_bytes;
    free(amaxes);
    free(targets);
    free(jobs);
    free(first);
    return GPTOSS_OK;
}
