/* model.h — the model layer's face: load a checkpoint, own its KV memory, run a forward step.
 *
 * The engine above sees token ids and logits only. A model is immutable after loading except for
 * its KV cache, which the caller sizes with model_kv_alloc() and addresses through the slots and
 * block tables of each struct batch; the bookkeeping of which block belongs to whom lives above.
 */
#ifndef GPTOSS_MODEL_H
#define GPTOSS_MODEL_H

#include "gptoss.h"
#include "model/batch.h"
#include "model/model_config.h"
#include "model/model_shard.h"
#include "model/model_weights.h"

#include <stddef.h>
#include <stdint.h>

struct model;

struct model_options {
    uint32_t n_threads;    /* CPU threads; 0: one per available core */
    bool f32_activations;  /* backend_cpu_f32(): every product in f32 */
    bool bf16_activations; /* backend_cpu_bf16(): bf16 activations at most, never int8 */
    bool weights_int8;     /* q/k/v/o and the unembedding as per-row int8 (model_int8.c) */
    const struct model_progress *progress; /* may be NULL */
    /* Tensor parallelism: the model split over this many ranks (0 or 1: not split) ... */
    uint32_t tensor_parallel_size;
    /* ... as threads of this process (each with n_threads / N CPU threads), or as the
     * processes of an MPI job (mpirun; tensor_parallel_size is then the job's size). */
    bool distributed_mpi;
};

/* Loads the checkpoint directory `dir`: config.json, generation_config.json (optional) and the
 * safetensors shards. Errors name the file and the tensor at fault. */
enum gptoss_status model_load(const char *dir, const struct model_options *options,
                              struct model **model_out);
void model_destroy(struct model *model);

/* Tensor parallelism over MPI: every process loads its rank's part with model_load; rank 0 goes
 * on to serve, the others call model_worker_run, which runs rank 0's steps until rank 0's
 * model_destroy, then destroy theirs. model_rank says which one this process is. */
uint32_t model_rank(const struct model *model);
/* Whether a collective between the ranks failed (a rank died, the network broke): the ranks
 * are out of step for good, every later step fails, and a server should say so and stop. */
bool model_lost(const struct model *model);
uint32_t model_n_ranks(const struct model *model);
enum gptoss_status model_worker_run(struct model *model);

/* This rank's part (model_shard.h). */
const struct model_shard *model_shard_of(const struct model *model);
/* The memory plan of rank `rank` of this model's group (any rank: they are computed from the
 * config), with weight_resident measured where this process holds that rank (-1 otherwise). */
struct model_rank_plan {
    struct model_shard shard;
    uint64_t weight_bytes, kv_bytes_per_token, kv_bytes;
    int64_t weight_resident;
};
void model_rank_plan(const struct model *model, uint32_t rank, struct model_rank_plan *out);
/* Of this model's (rank's) weights, the bytes resident now (mincore over its tensors). */
uint64_t model_rank_resident(const struct model *model);
/* The rank's model when this process holds it (rank 0, or a thread group's rank); else NULL. */
const struct model *model_rank_model(const struct model *model, uint32_t rank);

const struct model_config *model_config(const struct model *model);
const struct model_weights *model_weights(const struct model *model);

/* (Re)allocates the paged KV cache: n_blocks[g] blocks of KV_BLOCK_SIZE tokens for each KV
 * group. Contents are undefined afterwards. GPTOSS_ERR_NOMEM when the memory is not there. */
enum gptoss_status model_kv_alloc(struct model *model, const uint32_t n_blocks[KV_N_GROUPS]);

/* The backend the forward pass runs on, e.g. "cpu avx512" or "cpu-ref". */
const char *model_backend_name(const struct model *model);

/* Of the weights' memory resident now (the mapped files and the --weights int8 copies), the
 * bytes resident and the bytes of those on 2 MB pages (base/pages.h). */
void model_weight_pages(const struct model *model, uint64_t *resident, uint64_t *huge);

/* Bytes of KV memory one block costs in group g (all layers of that group). */
uint64_t model_kv_block_bytes(const struct model *model, enum kv_group group);

/* Runs every token of `batch` through the model, writing their keys and values to the cache, and
 * stores the logits of the rows with need_logits set, in batch order, in logits_out
 * ([n_marked][V]). Fails with GPTOSS_ERR_INVALID_ARGUMENT (and changes nothing) when a token,
 * position, slot or block is out of range. */
enum gptoss_status model_forward(struct model *model, const struct batch *batch, float *logits_out);

#endif
