/* model_compact.c — expands a compact checkpoint into the Hub layout.
 *
 * A small model with the full 201,088-token vocabulary spends almost all of its bytes on the
 * embedding and unembedding, yet a model trained on a narrow domain gives its own row to only a
 * few thousand tokens and one shared row to all others. The compact form stores just those:
 * `model.compact.safetensors` holds every Hub tensor except `model.embed_tokens.weight` and
 * `lm_head.weight`, which are replaced by
 *
 *   compact.token_ids     I32  [n]       ascending, unique, < vocab_size
 *   compact.embed_tokens  BF16 [n+1, H]  the rows of those ids in order, then the shared row
 *   compact.lm_head       BF16 [n+1, H]  likewise
 *
 * Expanding writes the full matrices (row id = its own row, or the shared one) and copies the
 * rest byte for byte, so the result is an ordinary Hub checkpoint that transformers loads too.
 */
#include "model/model_compact.h"

#include "base/error.h"
#include "base/file.h"
#include "base/xalloc.h"
#include "model/model_config.h"
#include "model/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPACT_FILE  "model.compact.safetensors"
#define COMPACT_IDS   "compact.token_ids"
#define COMPACT_EMBED "compact.embed_tokens"
#define COMPACT_HEAD  "compact.lm_head"

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Copies a small file (a config) from one folder to another. */
static enum gptoss_status copy_file(const char *from_dir, const char *to_dir, const char *name,
                                    bool optional)
{
    char *from = join(from_dir, name), *to = join(to_dir, name);
    char *data = NULL;
    size_t size = 0;
    enum gptoss_status st = GPTOSS_OK;
    if (optional && !file_exists(from))
        goto done;
    st = file_read_all(from, 1u << 20, &data, &size);
    if (st != GPTOSS_OK)
        goto done;
    FILE *fp = fopen(to, "wb");
    if (!fp) {
        st = error_set(GPTOSS_ERR_IO, "%s: %s", to, strerror(errno));
        goto done;
    }
    if (fwrite(data, 1, size, fp) != size)
        st = error_set(GPTOSS_ERR_IO, "%s: write: %s", to, strerror(errno));
    if (fclose(fp) != 0 && st == GPTOSS_OK)
        st = error_set(GPTOSS_ERR_IO, "%s: close: %s", to, strerror(errno));
done:
    free(data);
    free(from);
    free(to);
    return st;
}

/* The compact tensors, checked against the config. */
struct compact {
    const int32_t *ids;
    const unsigned char *embed, *head; /* [n+1][H] bf16 rows */
    uint64_t n, d_model, n_vocab;
};

static enum gptoss_status compact_check(const struct safetensors *st, const struct model_config *c,
                                        const char *path, struct compact *out)
{
    const struct tensor *ids = safetensors_find(st, COMPACT_IDS);
    const struct tensor *embed = safetensors_find(st, COMPACT_EMBED);
    const struct tensor *head = safetensors_find(st, COMPACT_HEAD);
    if (!ids || !embed || !head)
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s' is missing", path,
                         !ids     ? COMPACT_IDS
                         : !embed ? COMPACT_EMBED
                                  : COMPACT_HEAD);
    if (ids->dtype != DTYPE_I32 || ids->n_dims != 1)
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s' must be I32 [n]", path, COMPACT_IDS);
    uint64_t n = ids->shape[0];
    const struct tensor *rows[2] = {embed, head};
    for (int i = 0; i < 2; i++)
        if (rows[i]->dtype != DTYPE_BF16 || rows[i]->n_dims != 2 || rows[i]->shape[0] != n + 1 ||
            rows[i]->shape[1] != c->d_model)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: tensor '%s' must be BF16 [%llu, %u] (the ids' rows, then the "
                             "shared row)",
                             path, rows[i]->name, (unsigned long long)(n + 1), c->d_model);
    /* The mapping gives no alignment guarantee for I32; read through memcpy. */
    int32_t prev = -1;
    for (uint64_t i = 0; i < n; i++) {
        int32_t id;
        memcpy(&id, (const unsigned char *)ids->data + 4 * i, 4);
        if (id <= prev || (uint32_t)id >= c->n_vocab)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: tensor '%s': ids must be ascending, unique and below vocab_size "
                             "%u (entry %llu is %d)",
                             path, COMPACT_IDS, c->n_vocab, (unsigned long long)i, (int)id);
        prev = id;
    }
    out->ids = ids->data;
    out->embed = embed->data;
    out->head = head->data;
    out->n = n;
    out->d_model = c->d_model;
    out->n_vocab = c->n_vocab;
    return GPTOSS_OK;
}

/* Writes the full [V, H] matrix from the compact rows. */
static bool write_expanded(FILE *fp, const struct compact *cp, const unsigned char *rows)
{
    size_t row_bytes = (size_t)cp->d_model * 2;
    uint64_t next = 0; /* index into ids of the next id that has its own row */
    for (uint64_t v = 0; v < cp->n_vocab; v++) {
        int32_t id = -1;
        if (next < cp->n)
            memcpy(&id, (const unsigned char *)cp->ids + 4 * next, 4);
        uint64_t r = cp->n;
        if (next < cp->n && (uint64_t)id == v)
            r = next++;
        if (fwrite(rows + r * row_bytes, 1, row_bytes, fp) != row_bytes)
            return false;
    }
    return true;
}

enum gptoss_status model_compact_expand(const char *compact_dir, const char *out_dir)
{
    struct model_config c;
    enum gptoss_status st = model_config_load(compact_dir, &c);
    if (st != GPTOSS_OK)
        return st;
    char *path = join(compact_dir, COMPACT_FILE);
    struct safetensors *in = NULL;
    st = safetensors_open(path, &in);
    struct compact cp = {0};
    if (st == GPTOSS_OK)
        st = compact_check(in, &c, path, &cp);
    if (st == GPTOSS_OK)
        st = file_mkdirs(out_dir);
    if (st == GPTOSS_OK)
        st = copy_file(compact_dir, out_dir, "config.json", false);
    if (st == GPTOSS_OK)
        st = copy_file(compact_dir, out_dir, "generation_config.json", true);
    if (st != GPTOSS_OK) {
        safetensors_close(in);
        free(path);
        return st;
    }

    /* The output's tensors in name order (as safetensors_open keeps them), the compact ones
     * swapped for the two full matrices. */
    struct tensor *out = xcalloc(in->n_tensors + 2, sizeof *out);
    size_t n_out = 0;
    struct tensor embed = {.name = "model.embed_tokens.weight",
                           .dtype = DTYPE_BF16,
                           .n_dims = 2,
                           .shape = {c.n_vocab, c.d_model},
                           .n_bytes = (uint64_t)c.n_vocab * c.d_model * 2};
    struct tensor head = embed;
    head.name = "lm_head.weight";
    bool placed_embed = false, placed_head = false;
    for (size_t i = 0; i <= in->n_tensors; i++) {
        const struct tensor *t = i < in->n_tensors ? &in->tensors[i] : NULL;
        if (!placed_head && (!t || strcmp(t->name, head.name) > 0)) {
            out[n_out++] = head;
            placed_head = true;
        }
        if (!placed_embed && (!t || strcmp(t->name, embed.name) > 0)) {
            out[n_out++] = embed;
            placed_embed = true;
        }
        if (!t)
            break;
        if (strncmp(t->name, "compact.", 8) == 0)
            continue;
        if (strcmp(t->name, embed.name) == 0 || strcmp(t->name, head.name) == 0) {
            st = error_set(GPTOSS_ERR_FORMAT,
                           "%s: tensor '%s' must not be there (it is made from "
                           "the compact rows)",
                           path, t->name);
            break;
        }
        out[n_out++] = *t;
    }

    char *final_path = join(out_dir, "model.safetensors");
    char *tmp_path = join(out_dir, "model.safetensors.tmp");
    FILE *fp = NULL;
    if (st == GPTOSS_OK) {
        fp = fopen(tmp_path, "wb");
        if (!fp)
            st = error_set(GPTOSS_ERR_IO, "%s: %s", tmp_path, strerror(errno));
    }
    if (st == GPTOSS_OK) {
        size_t header_size;
        unsigned char *header = safetensors_header_build(out, n_out, &header_size);
        bool ok = fwrite(header, 1, header_size, fp) == header_size;
        free(header);
        for (size_t i = 0; ok && i < n_out; i++) {
            if (out[i].data)
                ok = fwrite(out[i].data, 1, out[i].n_bytes, fp) == out[i].n_bytes;
            else
                ok = write_expanded(fp, &cp,
                                    strcmp(out[i].name, embed.name) == 0 ? cp.embed : cp.head);
        }
        if (!ok)
            st = error_set(GPTOSS_ERR_IO, "%s: write: %s", tmp_path, strerror(errno));
    }
    if (fp && fclose(fp) != 0 && st == GPTOSS_OK)
        st = error_set(GPTOSS_ERR_IO, "%s: close: %s", tmp_path, strerror(errno));
    /* Renamed into place last, so a folder with model.safetensors is always complete. */
    if (st == GPTOSS_OK && rename(tmp_path, final_path) != 0)
        st = error_set(GPTOSS_ERR_IO, "%s: rename: %s", final_path, strerror(errno));
    if (st != GPTOSS_OK)
        remove(tmp_path);
    free(tmp_path);
    free(final_path);
    free(out);
    safetensors_close(in);
    free(path);
    return st;
}
