/* test_model_load.c — config.json parsing, safetensors validation, weight binding and the
 * random-checkpoint writer.
 *
 * The group setup writes two tiny random checkpoints (MXFP4 experts in one file; bf16 experts in
 * three shards with an index) that the other tests load, copy and corrupt. Every failure case
 * checks that the error is one line and names the file (and the tensor where there is one):
 * these messages are what a user with a broken download sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/file.h"
#include "model/model_config.h"
#include "model/model_random.h"
#include "model/model_weights.h"
#include "model/safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRATCH   GPTOSS_TEST_BUILD_DIR "/tmp_model_load"
#define DIR_MXFP4 SCRATCH "/tiny_mxfp4"
#define DIR_BF16  SCRATCH "/tiny_bf16_3shards"

/* ---- helpers ------------------------------------------------------------------------------ */

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void fresh_dir(const char *dir)
{
    remove_dir(dir);
    mkdir(SCRATCH, 0777);
    assert_int_equal(mkdir(dir, 0777), 0);
}

static char *path_in(const char *dir, const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

static char *read_whole(const char *path, size_t *size)
{
    char *data = NULL;
    assert_int_equal(file_read_all(path, (size_t)1 << 32, &data, size), GPTOSS_OK);
    return data;
}

static void write_whole(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
}

static void write_text(const char *path, const char *text)
{
    write_whole(path, text, strlen(text));
}

static void link_file(const char *target, const char *link_path)
{
    char abs[2048];
    assert_non_null(realpath(target, abs));
    assert_int_equal(symlink(abs, link_path), 0);
}

static bool files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *da = read_whole(a, &na), *db = read_whole(b, &nb);
    bool same = na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return same;
}

/* A failure must be one line that mentions every string in `needles` (NULL-terminated). */
static void check_error_line(enum gptoss_status st, const char *const *needles)
{
    assert_int_not_equal(st, GPTOSS_OK);
    const char *msg = error_message();
    assert_true(msg[0] != '\0');
    assert_null(strchr(msg, '\n'));
    if (getenv("TEST_VERBOSE")) /* to read the messages a user would see */
        fprintf(stderr, "  %s\n", msg);
    for (; *needles; needles++) {
        if (!strstr(msg, *needles))
            fail_msg("error \"%s\" does not mention \"%s\"", msg, *needles);
    }
}

#define CHECK_ERROR(st, ...) check_error_line(st, (const char *const[]){__VA_ARGS__, NULL})

static uint64_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

/* Bytes of the data block, which the writer fills with tensors and nothing else. */
static uint64_t data_block_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char h[8];
    assert_int_equal(fread(h, 1, 8, fp), 8);
    fclose(fp);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | h[i];
    return file_size(path) - 8 - n;
}

/* ---- config.json -------------------------------------------------------------------------- */

/* The Hub's gpt-oss-20b config.json (gpt-oss.md §1.1). */
static const char hub_20b_config[] =
    "{\"architectures\":[\"GptOssForCausalLM\"],\"attention_bias\":true,"
    "\"attention_dropout\":0.0,\"eos_token_id\":200002,\"experts_per_token\":4,\"head_dim\":64,"
    "\"hidden_act\":\"silu\",\"hidden_size\":2880,\"initial_context_length\":4096,"
    "\"initializer_range\":0.02,\"intermediate_size\":2880,\"layer_types\":["
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\","
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\","
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\","
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\","
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\","
    "\"sliding_attention\",\"full_attention\",\"sliding_attention\",\"full_attention\"],"
    "\"max_position_embeddings\":131072,\"model_type\":\"gpt_oss\",\"num_attention_heads\":64,"
    "\"num_experts_per_tok\":4,\"num_hidden_layers\":24,\"num_key_value_heads\":8,"
    "\"num_local_experts\":32,\"output_router_logits\":false,\"pad_token_id\":199999,"
    "\"quantization_config\":{\"modules_to_not_convert\":[\"model.layers.*.self_attn\","
    "\"model.layers.*.mlp.router\",\"model.embed_tokens\",\"lm_head\"],\"quant_method\":\"mxfp4\"},"
    "\"rms_norm_eps\":1e-05,\"rope_scaling\":{\"beta_fast\":32.0,\"beta_slow\":1.0,\"factor\":32.0,"
    "\"original_max_position_embeddings\":4096,\"rope_type\":\"yarn\",\"truncate\":false},"
    "\"rope_theta\":150000,\"router_aux_loss_coef\":0.9,\"sliding_window\":128,"
    "\"swiglu_limit\":7.0,\"tie_word_embeddings\":false,\"transformers_version\":\"4.55.0.dev0\","
    "\"use_cache\":true,\"vocab_size\":201088}";

static enum gptoss_status parse_text(const char *text, struct model_config *c)
{
    return model_config_parse(text, strlen(text), "dir/config.json", c);
}

/* hub_20b_config with `key` replaced by `value` (JSON text) or removed (value NULL). */
static enum gptoss_status parse_variant(const char *key, const char *value, struct model_config *c)
{
    json_t *root = json_loads(hub_20b_config, 0, NULL);
    assert_non_null(root);
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(root, key, v);
    } else {
        json_object_del(root, key);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    enum gptoss_status st = parse_text(text, c);
    free(text);
    return st;
}

static void test_config_hub(void **state)
{
    (void)state;
    struct model_config c;
    assert_int_equal(parse_text(hub_20b_config, &c), GPTOSS_OK);
    assert_int_equal(c.n_layers, 24);
    assert_int_equal(c.d_model, 2880);
    assert_int_equal(c.n_heads, 64);
    assert_int_equal(c.n_kv_heads, 8);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.n_experts, 32);
    assert_int_equal(c.n_experts_per_token, 4);
    assert_int_equal(c.d_ff, 2880);
    assert_int_equal(c.n_vocab, 201088);
    assert_int_equal(c.sliding_window, 128);
    assert_int_equal(c.max_position, 131072);
    assert_true(c.layer_sliding[0] && !c.layer_sliding[1] && c.layer_sliding[22] &&
                !c.layer_sliding[23]);
    assert_true(c.experts_mxfp4);
    assert_true(c.rms_norm_eps == 1e-5f);
    assert_true(c.swiglu_limit == 7.0f);
    assert_true(c.swiglu_alpha == 1.702f);
    assert_int_equal(c.rope.head_dim, 64);
    assert_true(c.rope.theta == 150000.0f);
    assert_true(c.rope.factor == 32.0f);
    assert_true(c.rope.beta_fast == 32.0f && c.rope.beta_slow == 1.0f);
    assert_int_equal(c.rope.original_max_position, 4096);
    assert_false(c.rope.truncate);
    assert_true(c.rope.attention_factor == 0.0f);
    assert_int_equal(c.n_eos, 3);
    assert_int_equal(c.eos_ids[0], 200002);
    assert_int_equal(c.eos_ids[1], 199999);
    assert_int_equal(c.eos_ids[2], 200012);
    assert_true(c.default_temperature < 0 && c.default_top_p < 0);
    /* "21B" and "117B": gpt-oss.md §2.2. */
    assert_int_equal(model_config_n_params(&c), 20914757184ull);
    c.n_layers = 36;
    c.n_experts = 128;
    assert_int_equal(model_config_n_params(&c), 116829156672ull);
}

static void assert_config_equal(const struct model_config *a, const struct model_config *b)
{
    assert_int_equal(a->n_layers, b->n_layers);
    assert_int_equal(a->d_model, b->d_model);
    assert_int_equal(a->n_heads, b->n_heads);
    assert_int_equal(a->n_kv_heads, b->n_kv_heads);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->n_experts, b->n_experts);
    assert_int_equal(a->n_experts_per_token, b->n_experts_per_token);
    assert_int_equal(a->d_ff, b->d_ff);
    assert_int_equal(a->n_vocab, b->n_vocab);
    assert_int_equal(a->sliding_window, b->sliding_window);
    assert_int_equal(a->max_position, b->max_position);
    assert_memory_equal(a->layer_sliding, b->layer_sliding, sizeof a->layer_sliding);
    assert_true(a->rms_norm_eps == b->rms_norm_eps);
    assert_true(a->swiglu_limit == b->swiglu_limit);
    assert_true(a->swiglu_alpha == b->swiglu_alpha);
    assert_int_equal(a->rope.head_dim, b->rope.head_dim);
    assert_true(a->rope.theta == b->rope.theta);
    assert_true(a->rope.factor == b->rope.factor);
    assert_true(a->rope.beta_fast == b->rope.beta_fast);
    assert_true(a->rope.beta_slow == b->rope.beta_slow);
    assert_int_equal(a->rope.original_max_position, b->rope.original_max_position);
    assert_int_equal(a->rope.truncate, b->rope.truncate);
    assert_true(a->rope.attention_factor == b->rope.attention_factor);
    assert_int_equal(a->experts_mxfp4, b->experts_mxfp4);
}

static void test_config_rope_parameters(void **state)
{
    (void)state;
    struct model_config hub, v5;
    assert_int_equal(parse_text(hub_20b_config, &hub), GPTOSS_OK);
    /* transformers v5: rope_theta moves inside rope_parameters. */
    json_t *root = json_loads(hub_20b_config, 0, NULL);
    json_t *rp = json_deep_copy(json_object_get(root, "rope_scaling"));
    json_object_set_new(rp, "rope_theta", json_integer(150000));
    json_object_set_new(root, "rope_parameters", rp);
    json_object_del(root, "rope_scaling");
    json_object_del(root, "rope_theta");
    char *text = json_dumps(root, 0);
    json_decref(root);
    assert_int_equal(parse_text(text, &v5), GPTOSS_OK);
    free(text);
    assert_config_equal(&hub, &v5);

    /* The older "type" key and an explicit attention_factor. */
    struct model_config c;
    assert_int_equal(parse_variant("rope_scaling",
                                   "{\"type\":\"yarn\",\"factor\":32.0,"
                                   "\"original_max_position_embeddings\":4096,"
                                   "\"attention_factor\":1.25}",
                                   &c),
                     GPTOSS_OK);
    assert_true(c.rope.factor == 32.0f);
    assert_true(c.rope.truncate); /* transformers' default when absent */
    assert_true(c.rope.attention_factor == 1.25f);
    assert_true(c.rope.beta_fast == 32.0f && c.rope.beta_slow == 1.0f);

    /* No rope_scaling, or rope_type "default": plain RoPE. */
    assert_int_equal(parse_variant("rope_scaling", NULL, &c), GPTOSS_OK);
    assert_true(c.rope.factor == 1.0f);
    assert_true(c.rope.theta == 150000.0f);
    assert_int_equal(parse_variant("rope_scaling", "{\"rope_type\":\"default\"}", &c), GPTOSS_OK);
    assert_true(c.rope.factor == 1.0f);
    assert_int_equal(parse_variant("rope_scaling", "null", &c), GPTOSS_OK);
    assert_true(c.rope.factor == 1.0f);
}

static void test_config_defaults_and_aliases(void **state)
{
    (void)state;
    struct model_config c;
    assert_int_equal(parse_variant("layer_types", NULL, &c), GPTOSS_OK);
    for (uint32_t i = 0; i < c.n_layers; i++)
        assert_int_equal(c.layer_sliding[i], i % 2 == 0);
    assert_int_equal(parse_variant("layer_types", "[\"full_attention\",\"full_attention\"]", &c),
                     GPTOSS_ERR_FORMAT);

    /* head_dim absent: hidden / heads (2880 / 45 = 64). */
    json_t *root = json_loads(hub_20b_config, 0, NULL);
    json_object_del(root, "head_dim");
    json_object_set_new(root, "num_attention_heads", json_integer(45));
    json_object_set_new(root, "num_key_value_heads", json_integer(9));
    /* Original-checkpoint names for the expert counts. */
    json_object_del(root, "num_local_experts");
    json_object_del(root, "num_experts_per_tok");
    json_object_set_new(root, "num_experts", json_integer(16));
    json_object_del(root, "quantization_config");
    json_object_set_new(root, "swiglu_alpha", json_real(1.5));
    char *text = json_dumps(root, 0);
    json_decref(root);
    assert_int_equal(parse_text(text, &c), GPTOSS_OK);
    free(text);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.n_experts, 16);
    assert_int_equal(c.n_experts_per_token, 4); /* from experts_per_token */
    assert_false(c.experts_mxfp4);
    assert_true(c.swiglu_alpha == 1.5f);

    /* Integral reals are integers. */
    assert_int_equal(parse_variant("hidden_size", "2880.0", &c), GPTOSS_OK);
    assert_int_equal(c.d_model, 2880);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct model_config c;
    enum gptoss_status st = parse_text("{\"hidden_size\": 96,\n \"vocab_size\": }", &c);
    CHECK_ERROR(st, "dir/config.json:2:", "invalid JSON");
    CHECK_ERROR(parse_text("[1, 2]", &c), "dir/config.json", "object");

    struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"hidden_size", NULL, "field 'hidden_size' is missing"},
        {"hidden_size", "1e12", "field 'hidden_size' must be between"},
        {"hidden_size", "-5", "field 'hidden_size' must be between"},
        {"hidden_size", "0", "field 'hidden_size' must be between"},
        {"hidden_size", "\"2880\"", "field 'hidden_size' must be an integer"},
        {"hidden_size", "2880.5", "field 'hidden_size' must be an integer"},
        {"hidden_size", "2896", "'hidden_size' (2896) must be a multiple of 32"},
        {"intermediate_size", "2884", "'intermediate_size' (2884) must be a multiple of 32"},
        {"num_hidden_layers", "100000", "field 'num_hidden_layers' must be between"},
        {"num_key_value_heads", "7", "field 'num_key_value_heads'"},
        {"head_dim", "63", "field 'head_dim' must be even"},
        {"head_dim", "512", "field 'head_dim' must be between"},
        {"num_attention_heads", "4096", "'num_attention_heads' times head_dim"},
        {"num_local_experts", "2", "field 'num_experts_per_tok'"},
        {"vocab_size", "100000000", "field 'vocab_size'"},
        {"max_position_embeddings", NULL, "field 'max_position_embeddings' is missing"},
        {"rope_theta", NULL, "field 'rope_theta' is missing"},
        {"rope_theta", "1e300", "field 'rope_theta' must be a finite number"},
        {"rope_theta", "-1", "field 'rope_theta' must be positive"},
        {"rms_norm_eps", "0", "field 'rms_norm_eps' must be positive"},
        {"swiglu_limit", "true", "field 'swiglu_limit' must be a number"},
        {"layer_types", "[\"sliding_attention\"]", "field 'layer_types' has 1 entries"},
        {"layer_types", "\"sliding_attention\"", "field 'layer_types' must be an array"},
        {"rope_scaling", "{\"rope_type\":\"linear\",\"factor\":2.0}",
         "field 'rope_scaling.rope_type' is \"linear\""},
        {"rope_scaling", "{\"rope_type\":\"yarn\"}", "field 'rope_scaling.factor' is missing"},
        {"rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":32.0,\"truncate\":1}",
         "field 'rope_scaling.truncate' must be true or false"},
        {"rope_scaling", "[]", "field 'rope_scaling' must be an object"},
        {"quantization_config", "{\"quant_method\":\"gptq\"}",
         "field 'quantization_config.quant_method' is \"gptq\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st = parse_variant(cases[i].key, cases[i].value, &c);
        CHECK_ERROR(st, "dir/config.json: ", cases[i].needle);
    }
}

static void test_generation_config(void **state)
{
    (void)state;
    struct model_config c;
    assert_int_equal(parse_text(hub_20b_config, &c), GPTOSS_OK);
    const char *g = "{\"bos_token_id\":199998,\"do_sample\":true,\"eos_token_id\":[200002,199999],"
                    "\"pad_token_id\":199999,\"temperature\":0.6,\"top_p\":0.9}";
    assert_int_equal(model_config_parse_generation(g, strlen(g), "g.json", &c), GPTOSS_OK);
    assert_int_equal(c.n_eos, 2);
    assert_int_equal(c.eos_ids[1], 199999);
    assert_true(c.default_temperature == 0.6f && c.default_top_p == 0.9f);

    g = "{\"eos_token_id\":200012}";
    assert_int_equal(model_config_parse_generation(g, strlen(g), "g.json", &c), GPTOSS_OK);
    assert_int_equal(c.n_eos, 1);
    assert_int_equal(c.eos_ids[0], 200012);
    assert_true(c.default_temperature < 0 && c.default_top_p < 0);

    g = "{\"eos_token_id\":[200002, 999999999]}";
    CHECK_ERROR(model_config_parse_generation(g, strlen(g), "g.json", &c),
                "g.json: field 'eos_token_id'");
    g = "{\"eos_token_id\":[]}";
    CHECK_ERROR(model_config_parse_generation(g, strlen(g), "g.json", &c), "eos_token_id");
    g = "{\"top_p\":1.5}";
    CHECK_ERROR(model_config_parse_generation(g, strlen(g), "g.json", &c), "field 'top_p'");
    g = "{\"temperature\":";
    CHECK_ERROR(model_config_parse_generation(g, strlen(g), "g.json", &c), "g.json:1:");
}

/* ---- random checkpoints ------------------------------------------------------------------- */

struct progress_log {
    uint64_t calls, last_done, last_total;
    bool monotonic;
};

static void progress_cb(void *user, uint64_t done, uint64_t total)
{
    struct progress_log *p = user;
    if (done < p->last_done || done > total)
        p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static int group_setup(void **state)
{
    (void)state;
    mkdir(SCRATCH, 0777);
    struct model_random_options o = {.preset = "tiny", .seed = 1};
    if (model_random_write(&o, DIR_MXFP4) != GPTOSS_OK) {
        fprintf(stderr, "setup: %s\n", error_message());
        return -1;
    }
    o.experts_bf16 = true;
    o.n_shards = 3;
    if (model_random_write(&o, DIR_BF16) != GPTOSS_OK) {
        fprintf(stderr, "setup: %s\n", error_message());
        return -1;
    }
    return 0;
}

static void check_bf16_range(const struct tensor *t, float lo, float hi, bool want_spread)
{
    uint64_t n = t->n_bytes / 2;
    float min = 1e30f, max = -1e30f;
    for (uint64_t i = 0; i < n; i++) {
        float v = tensor_get_f32(t, i);
        if (!(v >= lo && v <= hi))
            fail_msg("%s[%llu] = %g outside [%g, %g]", t->name, (unsigned long long)i, v, lo, hi);
        min = v < min ? v : min;
        max = v > max ? v : max;
    }
    if (want_spread)
        assert_true(max - min > (hi - lo) * 0.25f);
}

/* MXFP4 experts: bytes of the weights per layer, to check n_bytes against the config. */
static uint64_t expert_mxfp4_bytes(const struct model_config *c)
{
    uint64_t e = c->n_experts, d = c->d_model, f = c->d_ff;
    uint64_t w1 = e * 2 * f * d, w2 = e * d * f;
    return (w1 + w2) / 2 + (w1 + w2) / 32;
}

static void test_random_tiny_mxfp4(void **state)
{
    (void)state;
    struct model_config c;
    assert_int_equal(model_config_load(DIR_MXFP4, &c), GPTOSS_OK);
    assert_int_equal(c.n_layers, 4);
    assert_int_equal(c.d_model, 96);
    assert_int_equal(c.n_heads, 4);
    assert_int_equal(c.n_kv_heads, 2);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.n_experts, 8);
    assert_int_equal(c.n_experts_per_token, 4);
    assert_int_equal(c.d_ff, 64);
    assert_int_equal(c.n_vocab, 201088);
    assert_int_equal(c.max_position, 131072);
    assert_true(c.experts_mxfp4);
    assert_true(c.rope.factor == 32.0f && !c.rope.truncate);
    assert_int_equal(c.rope.original_max_position, 4096);
    assert_int_equal(c.n_eos, 3);
    assert_int_equal(c.eos_ids[2], 200012);
    assert_true(c.layer_sliding[0] && !c.layer_sliding[1]);
    assert_false(file_exists(path_in(DIR_MXFP4, "model.safetensors.index.json")));

    struct progress_log log = {.monotonic = true};
    struct model_progress progress = {progress_cb, &log};
    struct model_weights *w = NULL;
    assert_int_equal(model_weights_load(DIR_MXFP4, &c, &progress, &w), GPTOSS_OK);
    const char *shard = path_in(DIR_MXFP4, "model.safetensors");
    assert_int_equal(w->n_shards, 1);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.last_done, file_size(shard));
    assert_int_equal(log.last_total, file_size(shard));
    /* Every tensor in the file is used, and the count matches the config's parameters. */
    assert_int_equal(w->n_bytes, data_block_size(shard));
    uint64_t expert_params = (uint64_t)c.n_experts * 3 * c.d_ff * c.d_model;
    assert_int_equal(w->n_bytes, 2 * (model_config_n_params(&c) - c.n_layers * expert_params) +
                                     c.n_layers * expert_mxfp4_bytes(&c));

    assert_string_equal(w->embed.name, "model.embed_tokens.weight");
    assert_int_equal(w->embed.shape[0], 201088);
    check_bf16_range(&w->embed, -1.0f, 1.0f, true);
    check_bf16_range(&w->final_norm, 0.89f, 1.11f, true);
    check_bf16_range(&w->lm_head, -0.11f, 0.11f, true); /* 1/sqrt(96) = 0.102 */
    for (uint32_t l = 0; l < c.n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        check_bf16_range(&lw->attn_norm, 0.89f, 1.11f, true);
        check_bf16_range(&lw->mlp_norm, 0.89f, 1.11f, true);
        check_bf16_range(&lw->sinks, -1.0f, 1.0f, false);
        assert_true(tensor_get_f32(&lw->sinks, 0) != tensor_get_f32(&lw->sinks, 1));
        check_bf16_range(&lw->q_bias, -0.0205f, 0.0205f, true);
        check_bf16_range(&lw->router, -0.21f, 0.21f, true);
        assert_int_equal(lw->q.shape[0], 256);
        assert_int_equal(lw->q.shape[1], 96);
        assert_int_equal(lw->k.shape[0], 128);
        assert_int_equal(lw->o.shape[0], 96);
        assert_int_equal(lw->o.shape[1], 256);
        assert_int_equal(lw->gate_up.format, EXPERT_MXFP4);
        assert_int_equal(lw->gate_up.n_experts, 8);
        assert_int_equal(lw->gate_up.n_out, 128);
        assert_int_equal(lw->gate_up.n_in, 96);
        assert_ptr_equal(lw->gate_up.blocks, lw->w1_blocks.data);
        assert_ptr_equal(lw->gate_up.scales, lw->w1_scales.data);
        assert_ptr_equal(lw->gate_up.bias, &lw->w1_bias);
        assert_int_equal(lw->down.n_out, 96);
        assert_int_equal(lw->down.n_in, 64);
        assert_ptr_equal(lw->down.blocks, lw->w2_blocks.data);
        assert_int_equal(lw->w1_blocks.shape[2], 3);
        assert_int_equal(lw->w1_blocks.shape[3], 16);
        assert_int_equal(lw->w2_scales.shape[2], 2);
        /* Scales: 127 - ceil(log2(sqrt(n_in))) - 2 +- 1 (n_in 96 -> 121, n_in 64 -> 122). */
        const uint8_t *s1 = lw->w1_scales.data, *s2 = lw->w2_scales.data;
        for (uint64_t i = 0; i < lw->w1_scales.n_bytes; i++)
            assert_in_range(s1[i], 120, 122);
        for (uint64_t i = 0; i < lw->w2_scales.n_bytes; i++)
            assert_in_range(s2[i], 121, 123);
    }
    model_weights_destroy(w);
}

static void test_random_bf16_sharded(void **state)
{
    (void)state;
    struct model_config c;
    assert_int_equal(model_config_load(DIR_BF16, &c), GPTOSS_OK);
    assert_false(c.experts_mxfp4);
    const char *names[3] = {"model-00000-of-00002.safetensors", "model-00001-of-00002.safetensors",
                            "model-00002-of-00002.safetensors"};
    uint64_t total = 0, data = 0;
    for (int i = 0; i < 3; i++) {
        total += file_size(path_in(DIR_BF16, names[i]));
        data += data_block_size(path_in(DIR_BF16, names[i]));
    }
    assert_true(file_exists(path_in(DIR_BF16, "model.safetensors.index.json")));
    assert_false(file_exists(path_in(DIR_BF16, "model.safetensors")));

    struct progress_log log = {.monotonic = true};
    struct model_progress progress = {progress_cb, &log};
    struct model_weights *w = NULL;
    assert_int_equal(model_weights_load(DIR_BF16, &c, &progress, &w), GPTOSS_OK);
    assert_int_equal(w->n_shards, 3);
    assert_int_equal(log.calls, 3);
    assert_true(log.monotonic);
    assert_int_equal(log.last_done, total);
    assert_int_equal(log.last_total, total);
    assert_int_equal(w->n_bytes, data);
    assert_int_equal(w->n_bytes, 2 * model_config_n_params(&c));

    /* The embedding lives in the first shard, lm_head and the final norm in the last. */
    const struct safetensors *first = w->shards[0], *last = w->shards[2];
    assert_non_null(strstr(first->path, names[0]));
    assert_non_null(safetensors_find(first, "model.embed_tokens.weight"));
    assert_non_null(safetensors_find(last, "lm_head.weight"));
    assert_non_null(safetensors_find(last, "model.norm.weight"));
    assert_null(safetensors_find(first, "lm_head.weight"));

    for (uint32_t l = 0; l < c.n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        assert_int_equal(lw->gate_up.format, EXPERT_BF16_IO);
        assert_ptr_equal(lw->gate_up.weight, lw->w1.data);
        assert_ptr_equal(lw->down.weight, lw->w2.data);
        assert_int_equal(lw->gate_up.n_out, 128);
        assert_int_equal(lw->gate_up.n_in, 96);
        assert_int_equal(lw->down.n_out, 96);
        assert_int_equal(lw->down.n_in, 64);
        assert_int_equal(lw->w1.shape[1], 96); /* [E, D, 2F] */
        assert_int_equal(lw->w1.shape[2], 128);
        assert_int_equal(lw->w2.shape[1], 64); /* [E, F, D] */
        check_bf16_range(&lw->w1, -0.11f, 0.11f, true);
        check_bf16_range(&lw->w2, -0.13f, 0.13f, true); /* 1/sqrt(64) */
    }

    /* A tensor's values depend on the seed and its name only, not on the expert format or the
     * shard it was written to. */
    struct model_config c1;
    struct model_weights *w1 = NULL;
    assert_int_equal(model_config_load(DIR_MXFP4, &c1), GPTOSS_OK);
    assert_int_equal(model_weights_load(DIR_MXFP4, &c1, NULL, &w1), GPTOSS_OK);
    assert_memory_equal(w->layers[2].sinks.data, w1->layers[2].sinks.data, 8);
    assert_memory_equal(w->layers[3].q.data, w1->layers[3].q.data, w1->layers[3].q.n_bytes);
    assert_memory_equal(w->lm_head.data, w1->lm_head.data, 4096);
    assert_memory_not_equal(w->layers[0].sinks.data, w1->layers[1].sinks.data, 8);
    model_weights_destroy(w1);
    model_weights_destroy(w);
}

static void test_random_deterministic(void **state)
{
    (void)state;
    const char *same = SCRATCH "/tiny_again", *other = SCRATCH "/tiny_seed2";
    remove_dir(same);
    remove_dir(other);
    struct model_random_options o = {.preset = "tiny", .seed = 1};
    assert_int_equal(model_random_write(&o, same), GPTOSS_OK);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors"};
    for (size_t i = 0; i < 3; i++)
        assert_true(files_equal(path_in(DIR_MXFP4, files[i]), path_in(same, files[i])));
    /* Writing over an existing checkpoint gives the same bytes again. */
    assert_int_equal(model_random_write(&o, same), GPTOSS_OK);
    assert_true(files_equal(path_in(DIR_MXFP4, files[2]), path_in(same, files[2])));

    o.seed = 2;
    assert_int_equal(model_random_write(&o, other), GPTOSS_OK);
    assert_true(files_equal(path_in(DIR_MXFP4, "config.json"), path_in(other, "config.json")));
    assert_int_equal(file_size(path_in(DIR_MXFP4, "model.safetensors")),
                     file_size(path_in(other, "model.safetensors")));
    assert_false(files_equal(path_in(DIR_MXFP4, files[2]), path_in(other, files[2])));
    remove_dir(same);
    remove_dir(other);
}

static void test_random_overrides(void **state)
{
    (void)state;
    const char *dir = SCRATCH "/tiny_overrides";
    remove_dir(dir);
    struct model_random_options o = {.preset = "tiny",
                                     .seed = 7,
                                     .n_layers = 2,
                                     .n_experts = 3,
                                     .rope_original_max_position = 256,
                                     .sink_scale = 0.25f,
                                     .n_shards = 4};
    struct progress_log log = {.monotonic = true};
    struct model_progress progress = {progress_cb, &log};
    o.progress = &progress;
    assert_int_equal(model_random_write(&o, dir), GPTOSS_OK);
    o.progress = NULL;
    assert_true(log.monotonic);
    assert_true(log.calls >= 4);
    assert_int_equal(log.last_done, log.last_total);
    struct model_config c;
    assert_int_equal(model_config_load(dir, &c), GPTOSS_OK);
    assert_int_equal(c.n_layers, 2);
    assert_int_equal(c.n_experts, 3);
    assert_int_equal(c.n_experts_per_token, 3);
    assert_int_equal(c.rope.original_max_position, 256);
    assert_int_equal(c.max_position, 256 * 32);
    struct model_weights *w = NULL;
    assert_int_equal(model_weights_load(dir, &c, NULL, &w), GPTOSS_OK);
    assert_int_equal(w->n_shards, 4);
    assert_int_equal(log.last_total, w->n_bytes);
    for (uint32_t l = 0; l < c.n_layers; l++)
        check_bf16_range(&w->layers[l].sinks, -0.25f, 0.25f, false);
    model_weights_destroy(w);

    /* More shards than groups of tensors, and unknown presets, are refused. */
    o.n_shards = 5;
    CHECK_ERROR(model_random_write(&o, dir), "shards");
    o.n_shards = 0;
    o.preset = "7b";
    CHECK_ERROR(model_random_write(&o, dir), "'7b'");
    write_text(SCRATCH "/a_file", "x");
    o.preset = "tiny";
    CHECK_ERROR(model_random_write(&o, SCRATCH "/a_file"), "a_file", "not a directory");
    unlink(SCRATCH "/a_file");
    remove_dir(dir);
}

/* ---- corruption --------------------------------------------------------------------------- */

#define DIR_BAD SCRATCH "/corrupt"

/* The valid tiny shard, split into its header (parsed) and data block. */
struct shard_copy {
    char *file;
    size_t size;
    uint64_t header_len;
    json_t *header;
};

static void shard_copy_load(struct shard_copy *s)
{
    s->file = read_whole(path_in(DIR_MXFP4, "model.safetensors"), &s->size);
    s->header_len = 0;
    for (int i = 7; i >= 0; i--)
        s->header_len = s->header_len << 8 | (unsigned char)s->file[i];
    s->header = json_loadb(s->file + 8, s->header_len, 0, NULL);
    assert_non_null(s->header);
}

static void shard_copy_free(struct shard_copy *s)
{
    json_decref(s->header);
    free(s->file);
}

/* Writes DIR_BAD/model.safetensors = `header_json` (padded) + the original data block. */
static void write_with_header(const struct shard_copy *s, const char *header_json)
{
    size_t n = strlen(header_json);
    size_t padded = (n + 7) / 8 * 8;
    size_t size = 8 + padded + (s->size - 8 - s->header_len);
    unsigned char *out = malloc(size);
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(out + 8, header_json, n);
    memset(out + 8 + n, ' ', padded - n);
    memcpy(out + 8 + padded, s->file + 8 + s->header_len, s->size - 8 - s->header_len);
    write_whole(path_in(DIR_BAD, "model.safetensors"), out, size);
    free(out);
}

static void write_mutated(const struct shard_copy *s, json_t *header)
{
    char *text = json_dumps(header, JSON_COMPACT);
    write_with_header(s, text);
    free(text);
}

static json_t *entry_of(json_t *header, const char *name)
{
    json_t *e = json_object_get(header, name);
    assert_non_null(e);
    return e;
}

/* Loads DIR_BAD with the tiny config: what the user's `gptoss` would do. */
static enum gptoss_status load_bad(void)
{
    struct model_config c;
    enum gptoss_status st = model_config_load(DIR_BAD, &c);
    if (st != GPTOSS_OK)
        return st;
    struct model_weights *w = NULL;
    st = model_weights_load(DIR_BAD, &c, NULL, &w);
    model_weights_destroy(w);
    return st;
}

static void test_corrupt_shard(void **state)
{
    (void)state;
    fresh_dir(DIR_BAD);
    link_file(path_in(DIR_MXFP4, "config.json"), path_in(DIR_BAD, "config.json"));
    struct shard_copy s;
    shard_copy_load(&s);
    const char *bad = path_in(DIR_BAD, "model.safetensors");
    uint64_t data_size = s.size - 8 - s.header_len;

    /* Sanity: the unmodified header round-trips. */
    write_mutated(&s, s.header);
    assert_int_equal(load_bad(), GPTOSS_OK);

    /* Truncated file: the last tensor runs past the end. */
    write_whole(bad, s.file, s.size - 1000);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: tensor 'lm_head.weight': data_offsets",
                "run past the end of the file");

    /* Header length past the end, too small, and a file too short to hold it. */
    unsigned char *copy = malloc(s.size);
    memcpy(copy, s.file, s.size);
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)((uint64_t)s.size >> (8 * i));
    write_whole(bad, copy, s.size);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: header length");
    memset(copy, 0, 8);
    copy[0] = 1;
    write_whole(bad, copy, s.size);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: header length 1");
    memset(copy, 0xff, 8);
    write_whole(bad, copy, s.size);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: header length");
    write_whole(bad, s.file, 5);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors", "too short");
    free(copy);

    /* Header JSON that is not JSON, or not an object. */
    write_with_header(&s, "{\"a\": [1, 2");
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: header is not valid JSON");
    write_with_header(&s, "[1, 2, 3]");
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: header must be a JSON object");

    /* Two norms of identical size made to share bytes. */
    json_t *h = json_deep_copy(s.header);
    json_object_set(
        entry_of(h, "model.layers.0.post_attention_layernorm.weight"), "data_offsets",
        json_object_get(entry_of(h, "model.layers.0.input_layernorm.weight"), "data_offsets"));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: tensors",
                "'model.layers.0.input_layernorm.weight'",
                "'model.layers.0.post_attention_layernorm.weight'", "overlap");

    /* Offsets outside the data block, and reversed. */
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.1.self_attn.sinks"), "data_offsets",
                        json_pack("[I,I]", (json_int_t)data_size, (json_int_t)data_size + 8));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "tensor 'model.layers.1.self_attn.sinks': data_offsets",
                "run past the end of the file");
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.1.self_attn.sinks"), "data_offsets",
                        json_pack("[i,i]", 16, 8));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "tensor 'model.layers.1.self_attn.sinks': data_offsets [16, 8]");

    /* Byte count that does not match shape x dtype, and a negative dimension. */
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.2.self_attn.q_proj.weight"), "shape",
                        json_pack("[i,i]", 256, 95));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "tensor 'model.layers.2.self_attn.q_proj.weight'", "BF16 [256, 95]");
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.2.self_attn.q_proj.weight"), "shape",
                        json_pack("[i,i]", -256, -96));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "tensor 'model.layers.2.self_attn.q_proj.weight'", "non-negative");

    /* A dtype safetensors knows but we do not read, and one we read but not here. */
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.0.self_attn.sinks"), "dtype", json_string("F16"));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: tensor 'model.layers.0.self_attn.sinks'",
                "F16");
    h = json_deep_copy(s.header);
    json_t *e = entry_of(h, "model.layers.0.self_attn.sinks");
    json_object_set_new(e, "dtype", json_string("U8"));
    json_object_set_new(e, "shape", json_pack("[i]", 8));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: tensor 'model.layers.0.self_attn.sinks'",
                "dtype U8, expected BF16 or F32");

    /* Same bytes, transposed shape. */
    h = json_deep_copy(s.header);
    json_object_set_new(entry_of(h, "model.layers.3.self_attn.q_proj.weight"), "shape",
                        json_pack("[i,i]", 96, 256));
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(),
                "corrupt/model.safetensors: tensor 'model.layers.3.self_attn.q_proj.weight'",
                "has shape [96, 256], expected [256, 96]");

    /* A renamed (so: missing) tensor. */
    h = json_deep_copy(s.header);
    json_object_set(h, "model.layers.3.mlp.router.bias_renamed",
                    entry_of(h, "model.layers.3.mlp.router.bias"));
    json_object_del(h, "model.layers.3.mlp.router.bias");
    write_mutated(&s, h);
    json_decref(h);
    CHECK_ERROR(load_bad(), "corrupt/model.safetensors: tensor 'model.layers.3.mlp.router.bias' "
                            "is missing");

    /* A bf16-expert config against MXFP4 weights. */
    write_mutated(&s, s.header);
    struct model_config c;
    assert_int_equal(model_config_load(DIR_BF16, &c), GPTOSS_OK);
    struct model_weights *w = NULL;
    CHECK_ERROR(model_weights_load(DIR_BAD, &c, NULL, &w), "model.safetensors",
                "'model.layers.0.mlp.experts.gate_up_proj' is missing");
    assert_null(w);

    /* The safetensors reader on its own: empty file and nonexistent file. */
    write_whole(bad, "", 0);
    struct safetensors *st = NULL;
    CHECK_ERROR(safetensors_open(bad, &st), "corrupt/model.safetensors");
    assert_null(st);
    unlink(bad);
    CHECK_ERROR(safetensors_open(bad, &st), "corrupt/model.safetensors");
    CHECK_ERROR(load_bad(), "corrupt: no weights", "model.safetensors.index.json",
                "model.safetensors");

    /* config.json that is not JSON; then no config.json at all. */
    unlink(path_in(DIR_BAD, "config.json"));
    write_text(path_in(DIR_BAD, "config.json"), "{\n  \"hidden_size\": 96,\n  oops\n}\n");
    CHECK_ERROR(load_bad(), "corrupt/config.json:3:", "invalid JSON");
    unlink(path_in(DIR_BAD, "config.json"));
    CHECK_ERROR(load_bad(), "corrupt/config.json");

    shard_copy_free(&s);
    remove_dir(DIR_BAD);
}

static void test_corrupt_index(void **state)
{
    (void)state;
    const char *names[3] = {"model-00000-of-00002.safetensors", "model-00001-of-00002.safetensors",
                            "model-00002-of-00002.safetensors"};
    fresh_dir(DIR_BAD);
    link_file(path_in(DIR_BF16, "config.json"), path_in(DIR_BAD, "config.json"));
    for (int i = 0; i < 3; i += 2) /* shard 1 is missing */
        link_file(path_in(DIR_BF16, names[i]), path_in(DIR_BAD, names[i]));
    size_t n;
    char *index_text = read_whole(path_in(DIR_BF16, "model.safetensors.index.json"), &n);
    json_t *index = json_loads(index_text, 0, NULL);
    free(index_text);
    assert_non_null(index);
    const char *index_path = path_in(DIR_BAD, "model.safetensors.index.json");

    assert_int_equal(json_dump_file(index, index_path, 0), 0);
    CHECK_ERROR(load_bad(), "model.safetensors.index.json names shard", names[1]);

    link_file(path_in(DIR_BF16, names[1]), path_in(DIR_BAD, names[1]));
    assert_int_equal(load_bad(), GPTOSS_OK);

    /* The index sends lm_head to the first shard, where it is not. */
    json_t *copy = json_deep_copy(index);
    json_object_set_new(json_object_get(copy, "weight_map"), "lm_head.weight",
                        json_string(names[0]));
    assert_int_equal(json_dump_file(copy, index_path, 0), 0);
    json_decref(copy);
    CHECK_ERROR(load_bad(), "model-00000-of-00002.safetensors: tensor 'lm_head.weight' is missing "
                            "(model.safetensors.index.json puts it there)");

    /* A tensor the index does not list. */
    copy = json_deep_copy(index);
    json_object_del(json_object_get(copy, "weight_map"), "model.layers.1.self_attn.sinks");
    assert_int_equal(json_dump_file(copy, index_path, 0), 0);
    json_decref(copy);
    CHECK_ERROR(load_bad(), "model.safetensors.index.json: tensor 'model.layers.1.self_attn.sinks' "
                            "is missing from weight_map");

    /* Shard names must stay inside the directory. */
    const char *escapes[] = {"../tiny_bf16_3shards/model-00000-of-00002.safetensors", "..", ""};
    for (size_t i = 0; i < 3; i++) {
        copy = json_deep_copy(index);
        json_object_set_new(json_object_get(copy, "weight_map"), "model.norm.weight",
                            json_string(escapes[i]));
        assert_int_equal(json_dump_file(copy, index_path, 0), 0);
        json_decref(copy);
        CHECK_ERROR(load_bad(), "model.safetensors.index.json", "'model.norm.weight'",
                    "file name in the checkpoint directory");
    }

    /* Index that is not JSON, or has no weight_map. */
    write_text(index_path, "{\"weight_map\": ");
    CHECK_ERROR(load_bad(), "model.safetensors.index.json:1:", "invalid JSON");
    write_text(index_path, "{\"metadata\": {}}");
    CHECK_ERROR(load_bad(), "model.safetensors.index.json", "weight_map");
    json_decref(index);
    remove_dir(DIR_BAD);
}

/* safetensors_header_build and the reader agree; the layout is the standard one. */
static void test_header_build(void **state)
{
    (void)state;
    struct tensor t[3] = {
        {.name = "b\"quoted\"", .dtype = DTYPE_F32, .n_dims = 2, .shape = {2, 3}, .n_bytes = 24},
        {.name = "a", .dtype = DTYPE_BF16, .n_dims = 1, .shape = {5}, .n_bytes = 10},
        {.name = "c", .dtype = DTYPE_U8, .n_dims = 0, .n_bytes = 1},
    };
    size_t size;
    unsigned char *header = safetensors_header_build(t, 3, &size);
    assert_int_equal(size % 8, 0);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | header[i];
    assert_int_equal(n + 8, size);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"b\\\"quoted\\\"\":"
                       "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},";
    assert_memory_equal(header + 8, want, strlen(want));

    fresh_dir(DIR_BAD);
    const char *path = path_in(DIR_BAD, "x.safetensors");
    unsigned char *file = calloc(1, size + 35);
    memcpy(file, header, size);
    float f[6] = {1, 2, 3, 4, 5, 6};
    memcpy(file + size, f, sizeof f);
    write_whole(path, file, size + 35);
    struct safetensors *st = NULL;
    assert_int_equal(safetensors_open(path, &st), GPTOSS_OK);
    assert_int_equal(st->n_tensors, 3);
    assert_string_equal(st->tensors[0].name, "a"); /* sorted */
    const struct tensor *x = safetensors_find(st, "b\"quoted\"");
    assert_non_null(x);
    assert_true(tensor_get_f32(x, 5) == 6.0f);
    const struct tensor *c = safetensors_find(st, "c");
    assert_non_null(c);
    assert_int_equal(c->n_dims, 0);
    assert_int_equal(c->n_bytes, 1);
    assert_null(safetensors_find(st, "d"));
    safetensors_close(st);
    free(file);
    free(header);
    remove_dir(DIR_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_hub),
        cmocka_unit_test(test_config_rope_parameters),
        cmocka_unit_test(test_config_defaults_and_aliases),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_generation_config),
        cmocka_unit_test(test_header_build),
        cmocka_unit_test(test_random_tiny_mxfp4),
        cmocka_unit_test(test_random_bf16_sharded),
        cmocka_unit_test(test_random_deterministic),
        cmocka_unit_test(test_random_overrides),
        cmocka_unit_test(test_corrupt_shard),
        cmocka_unit_test(test_corrupt_index),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
