/* cmd_serve.c — `gptoss serve`: vLLM's launch flags onto gptoss_serve().
 *
 * Flag names follow vLLM's so that launch scripts carry over; flags for what this build cannot do
 * (several ranks, fp16 activations, other quantizations) are refused with the
 * reason rather than ignored.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* "8G", "512M", "1073741824", "1.5GiB" -> bytes. */
static bool parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0))
        return false;
    double mult = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default: break;
    }
    if (mult > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (mult > 1 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end || v * mult > 1.8e19)
        return false;
    *out = (uint64_t)(v * mult);
    return true;
}

/* Appends a copy of `key` to the malloc'd array. */
static bool add_key(char ***keys, size_t *n, const char *key)
{
    char **bigger = realloc(*keys, (*n + 1) * sizeof(char *));
    if (!bigger)
        return false;
    *keys = bigger;
    if (!((*keys)[*n] = strdup(key)))
        return false;
    (*n)++;
    return true;
}

/* Reads one key per line of `path` (blank lines and lines starting with '#' skipped; spaces
 * around a key dropped). A file without a key is refused: it would turn authentication off. */
static int read_key_file(const char *path, char ***keys, size_t *n)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "gptoss: --api-key-file %s: %s\n", path, strerror(errno));
        return EXIT_FAILURE;
    }
    char *line = NULL;
    size_t cap = 0, found = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
        while (len > 0 && strchr("\r\n \t", line[len - 1]))
            line[--len] = '\0';
        char *key = line + strspn(line, " \t");
        if (*key == '\0' || *key == '#')
            continue;
        if (!add_key(keys, n, key)) {
            fprintf(stderr, "gptoss: --api-key-file %s: out of memory\n", path);
            rc = EXIT_FAILURE;
        }
        found++;
    }
    if (rc == 0 && ferror(fp)) {
        fprintf(stderr, "gptoss: --api-key-file %s: %s\n", path, strerror(errno));
        rc = EXIT_FAILURE;
    }
    if (rc == 0 && found == 0) {
        fprintf(stderr, "gptoss: --api-key-file %s: no key in the file (one key per line)\n", path);
        rc = EXIT_FAILURE;
    }
    free(line);
    fclose(fp);
    return rc;
}

/* --public-endpoints health,metrics (names or paths), or none. */
static int parse_public_endpoints(const char *text, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"health", GPTOSS_PUBLIC_HEALTH},
                 {"version", GPTOSS_PUBLIC_VERSION},
                 {"metrics", GPTOSS_PUBLIC_METRICS},
                 {"status", GPTOSS_PUBLIC_STATUS}};
    *out = 0;
    if (strcmp(text, "none") == 0)
        return 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *word = p;
        if (len > 0 && *word == '/')
            word++, len--;
        size_t k = 0;
        while (k < sizeof(names) / sizeof(names[0]) &&
               !(strlen(names[k].name) == len && strncmp(word, names[k].name, len) == 0))
            k++;
        if (k == sizeof(names) / sizeof(names[0]))
            return fail_usage("--public-endpoints takes a list of health, version, metrics and "
                              "status (or none), got \"%s\"",
                              text);
        *out |= names[k].bit;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(
        argc, argv, 2,
        "--model --host --port --served-model-name --max-model-len "
        "--max-num-seqs --max-num-batched-tokens --tensor-parallel-size "
        "--distributed-backend --kv-cache-memory --weights --dtype "
        "--quantization --api-key --api-key-file --no-enable-prefix-caching "
        "--enable-prefix-caching --disable-log-stats --date --max-queued-requests --threads "
        "--no-webui --webui-dir --max-body-bytes --max-connections --read-timeout --max-n "
        "--max-tools --allowed-origins --public-endpoints --log-requests --max-log-len",
        &f);
    if (rc)
        return rc;
    struct gptoss_serve_options o;
    gptoss_serve_options_init(&o);
    if ((rc = cli_default_model(&f)))
        return rc;
    o.demo = cli_is_demo_model(&f);
    o.model_dir = f.model;
    o.served_model_name = f.served_model_name;
    if (f.host)
        o.host = f.host;
    uint64_t v;
    if (f.port) {
        if (!flag_u64("--port", f.port, 0, 65535, &v))
            return EXIT_USAGE;
        o.port = (uint16_t)v;
    }
    if (f.max_model_len) {
        if (!flag_u64("--max-model-len", f.max_model_len, 2, 1u << 24, &v))
            return EXIT_USAGE;
        o.max_model_len = (uint32_t)v;
    }
    if (f.max_num_seqs) {
        if (!flag_u64("--max-num-seqs", f.max_num_seqs, 1, 4096, &v))
            return EXIT_USAGE;
        o.max_num_seqs = (uint32_t)v;
    }
    if (f.max_num_batched_tokens) {
        if (!flag_u64("--max-num-batched-tokens", f.max_num_batched_tokens, 1, 1u << 20, &v))
            return EXIT_USAGE;
        o.max_num_batched_tokens = (uint32_t)v;
    }
    if (f.max_queued_requests) {
        if (!flag_u64("--max-queued-requests", f.max_queued_requests, 1, 1u << 20, &v))
            return EXIT_USAGE;
        o.max_queued_requests = (uint32_t)v;
    }
    if (f.threads) {
        if (!flag_u64("--threads", f.threads, 1, 1024, &v))
            return EXIT_USAGE;
        o.n_threads = (uint32_t)v;
    }
    if (f.max_body_bytes) {
        uint64_t bytes;
        if (!parse_bytes(f.max_body_bytes, &bytes) || bytes < 1024 || bytes > (1ull << 32))
            return fail_usage("--max-body-bytes must be a size from 1K to 4G, such as 32M, got "
                              "\"%s\"",
                              f.max_body_bytes);
        o.max_body_bytes = (size_t)bytes;
    }
    if (f.max_connections) {
        if (!flag_u64("--max-connections", f.max_connections, 1, 65536, &v))
            return EXIT_USAGE;
        o.max_connections = (unsigned)v;
    }
    if (f.read_timeout) {
        if (!flag_u64("--read-timeout", f.read_timeout, 1, 86400, &v))
            return EXIT_USAGE;
        o.read_timeout_s = (unsigned)v;
    }
    if (f.max_n) {
        if (!flag_u64("--max-n", f.max_n, 1, 1024, &v))
            return EXIT_USAGE;
        o.max_n = (uint32_t)v;
    }
    if (f.max_tools) {
        if (!flag_u64("--max-tools", f.max_tools, 1, 100000, &v))
            return EXIT_USAGE;
        o.max_tools = (uint32_t)v;
    }
    if ((rc = cli_parse_parallel(&f, &o.tensor_parallel_size, &o.distributed_backend)))
        return rc;
    if (f.kv_cache_memory && !parse_bytes(f.kv_cache_memory, &o.kv_cache_bytes))
        return fail_usage("--kv-cache-memory must be a size such as 4G, 512M or 1073741824, got "
                          "\"%s\"",
                          f.kv_cache_memory);
    if (f.weights && (rc = cli_parse_weights(f.weights, &o.weights)))
        return rc;
    if (f.dtype && (rc = cli_parse_dtype(f.dtype, &o.dtype)))
        return rc;
    if (f.quantization && strcmp(f.quantization, "mxfp4") && strcmp(f.quantization, "none"))
        return fail_usage("--quantization %s: gpt-oss ships MXFP4 experts; only mxfp4 (or none) "
                          "is supported",
                          f.quantization);
    o.enable_prefix_caching = !f.no_prefix_caching;
    o.log_stats = !f.disable_log_stats;
    o.webui = !f.no_webui;
    if (f.webui_dir && f.no_webui)
        return fail_usage("--webui-dir and --no-webui contradict each other");
    struct stat sb;
    if (f.webui_dir && (stat(f.webui_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return fail_usage("--webui-dir %s: not a folder", f.webui_dir);
    o.webui_dir = f.webui_dir;
    if (f.date)
        o.current_date = f.date;
    if (f.public_endpoints &&
        (rc = parse_public_endpoints(f.public_endpoints, &o.public_endpoints)))
        return rc;
    o.log_requests = f.log_requests;
    if (f.max_log_len) {
        if (!f.log_requests)
            return fail_usage("--max-log-len applies to --log-requests only");
        if (!flag_u64("--max-log-len", f.max_log_len, 0, UINT32_MAX, &v))
            return EXIT_USAGE;
        o.max_log_len = (uint32_t)v;
    }
    /* Keys: every --api-key, else VLLM_API_KEY; and the lines of --api-key-file. */
    char **keys = NULL, *origins_text = NULL;
    size_t n_keys = 0;
    const char *env_key = getenv("VLLM_API_KEY");
    for (unsigned i = 0; i < f.n_api_keys; i++)
        if (!*f.api_keys[i] || !add_key(&keys, &n_keys, f.api_keys[i])) {
            rc = fail_usage("--api-key: %s", *f.api_keys[i] ? "out of memory" : "empty key");
            goto out;
        }
    if (f.n_api_keys == 0 && env_key && *env_key && !add_key(&keys, &n_keys, env_key)) {
        rc = fail_usage("VLLM_API_KEY: out of memory");
        goto out;
    }
    if (f.api_key_file && (rc = read_key_file(f.api_key_file, &keys, &n_keys)))
        goto out;
    o.api_keys = (const char *const *)keys;
    o.n_api_keys = n_keys;
    /* --allowed-origins a,b,c (vLLM takes a JSON list: its ["a", "b"] is read too). */
    origins_text = f.allowed_origins ? strdup(f.allowed_origins) : NULL;
    const char *origins[64];
    size_t n_origins = 0;
    for (char *save = NULL, *t = origins_text ? strtok_r(origins_text, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        t += strspn(t, " [\"'");
        t[strcspn(t, " ]\"'")] = '\0';
        if (*t == '\0')
            continue;
        if (n_origins == 64 || (strcmp(t, "*") && !strstr(t, "://"))) {
            rc = fail_usage("--allowed-origins takes up to 64 origins such as "
                            "https://chat.example.com, or *; got \"%s\"",
                            t);
            goto out;
        }
        origins[n_origins++] = t;
    }
    o.allowed_origins = origins;
    o.n_allowed_origins = n_origins;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (gptoss_serve(&o, &stop_requested) != GPTOSS_OK)
        rc = fail_status("serve");
out:
    for (size_t i = 0; i < n_keys; i++)
        free(keys[i]);
    free(keys);
    free(origins_text);
    return rc;
}
