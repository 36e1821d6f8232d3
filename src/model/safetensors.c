/* safetensors.c — maps a .safetensors file and validates its header once, so that the tensors
 * it hands out can be read anywhere inside their shape without further checks; also builds the
 * header the random-model writer puts in front of its data.
 *
 * Reading follows the format as the Python/Rust `safetensors` package writes it: u64 LE header
 * length, JSON header, data block. Validation is stricter than strictly needed for reading
 * (no overlaps, exact sizes) because a checkpoint that breaks these rules is corrupt and the
 * sooner that is said, the better.
 */
#include "model/safetensors.h"

#include "base/buf.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The Rust implementation refuses headers above 100 MB; so do we. */
#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

/* Byte range of one tensor inside the data block, for the overlap check. */
struct safetensors_range {
    uint64_t begin, end;
    const char *name;
};

static int safetensors_cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct tensor *)a)->name, ((const struct tensor *)b)->name);
}

static int safetensors_cmp_range(const void *a, const void *b)
{
    const struct safetensors_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static void safetensors_free_tensors(struct tensor *tensors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)tensors[i].name);
    free(tensors);
}

static enum gptoss_status safetensors_parse_dtype(const json_t *v, const char *path,
                                                  const char *name, enum dtype *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s': \"dtype\" must be a string", path,
                         name);
    if (strcmp(s, "F32") == 0)
        *out = DTYPE_F32;
    else if (strcmp(s, "BF16") == 0)
        *out = DTYPE_BF16;
    else if (strcmp(s, "U8") == 0)
        *out = DTYPE_U8;
    else if (strcmp(s, "I32") == 0)
        *out = DTYPE_I32;
    else
        return error_set(GPTOSS_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has dtype \"%.32s\"; only F32, BF16, U8 and I32 are "
                         "supported",
                         path, name, s);
    return GPTOSS_OK;
}

/* Fills t->n_dims/shape and returns the element count through *n_elements (overflow-checked). */
static enum gptoss_status safetensors_parse_shape(const json_t *v, const char *path,
                                                  const char *name, struct tensor *t,
                                                  uint64_t *n_elements)
{
    if (!json_is_array(v))
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s': \"shape\" must be an array", path,
                         name);
    if (json_array_size(v) > TENSOR_MAX_DIMS)
        return error_set(GPTOSS_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has %zu dimensions, at most %d "
                         "are supported",
                         path, name, json_array_size(v), TENSOR_MAX_DIMS);
    uint64_t n = 1;
    t->n_dims = (uint32_t)json_array_size(v);
    for (uint32_t i = 0; i < t->n_dims; i++) {
        const json_t *d = json_array_get(v, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: tensor '%s': \"shape\" entries must be non-negative integers",
                             path, name);
        t->shape[i] = (uint64_t)json_integer_value(d);
        if (__builtin_mul_overflow(n, t->shape[i], &n))
            return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s': shape overflows 64 bits", path,
                             name);
    }
    *n_elements = n;
    return GPTOSS_OK;
}

/* One header entry: dtype, shape, data_offsets, all checked against the data block. */
static enum gptoss_status safetensors_parse_entry(const json_t *entry, const char *path,
                                                  const char *name, const unsigned char *data,
                                                  uint64_t data_size, struct tensor *t,
                                                  struct safetensors_range *range)
{
    if (!json_is_object(entry))
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s': entry must be a JSON object", path,
                         name);
    enum gptoss_status st =
        safetensors_parse_dtype(json_object_get(entry, "dtype"), path, name, &t->dtype);
    if (st != GPTOSS_OK)
        return st;
    uint64_t n_elements = 0;
    st = safetensors_parse_shape(json_object_get(entry, "shape"), path, name, t, &n_elements);
    if (st != GPTOSS_OK)
        return st;

    const json_t *off = json_object_get(entry, "data_offsets");
    const json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) ||
        !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return error_set(GPTOSS_ERR_FORMAT,
                         "%s: tensor '%s': \"data_offsets\" must be [begin, end] with "
                         "non-negative integers",
                         path, name);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    if (begin > end)
        return error_set(GPTOSS_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                         name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return error_set(GPTOSS_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the file "
                         "(%llu bytes of data)",
                         path, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)data_size);
    uint64_t n_bytes;
    if (__builtin_mul_overflow(n_elements, (uint64_t)dtype_size(t->dtype), &n_bytes))
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s': shape overflows 64 bits of bytes",
                         path, name);
    if (n_bytes != end - begin) {
        char shape[128];
        size_t len = 0;
        shape[0] = '\0';
        for (uint32_t i = 0; i < t->n_dims && len < sizeof shape; i++)
            len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%llu", i ? ", " : "",
                                    (unsigned long long)t->shape[i]);
        return error_set(GPTOSS_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s "
                         "[%s] needs %llu",
                         path, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)(end - begin), dtype_name(t->dtype), shape,
                         (unsigned long long)n_bytes);
    }
    t->data = data + begin;
    t->n_bytes = n_bytes;
    /* Readers cast to float/uint16_t pointers; a misaligned tensor would be undefined behaviour
     * there. Files written by the safetensors package are always aligned. */
    if (((uintptr_t)t->data % dtype_size(t->dtype)) != 0)
        return error_set(GPTOSS_ERR_UNSUPPORTED,
                         "%s: tensor '%s': data at offset %llu is not aligned to its %zu-byte "
                         "%s elements",
                         path, name, (unsigned long long)begin, dtype_size(t->dtype),
                         dtype_name(t->dtype));
    range->begin = begin;
    range->end = end;
    range->name = name;
    return GPTOSS_OK;
}

/* Walks the header object into a name-sorted tensor array with owned names. */
static enum gptoss_status safetensors_parse_header(const json_t *root, const char *path,
                                                   const unsigned char *data, uint64_t data_size,
                                                   struct tensor **tensors_out, size_t *n_out)
{
    size_t cap = json_object_size(root);
    struct tensor *tensors = xcalloc(cap ? cap : 1, sizeof *tensors);
    struct safetensors_range *ranges = xcalloc(cap ? cap : 1, sizeof *ranges);
    size_t n = 0;
    enum gptoss_status st = GPTOSS_OK;
    const char *key;
    const json_t *value;
    json_object_foreach ((json_t *)root, key, value) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        st = safetensors_parse_entry(value, path, key, data, data_size, &tensors[n], &ranges[n]);
        if (st != GPTOSS_OK)
            break;
        tensors[n].name = xstrdup(key);
        ranges[n].name = tensors[n].name;
        n++;
    }
    if (st == GPTOSS_OK) {
        qsort(ranges, n, sizeof *ranges, safetensors_cmp_range);
        uint64_t prev_end = 0;
        const struct safetensors_range *prev = NULL;
        for (size_t i = 0; i < n; i++) {
            if (ranges[i].begin == ranges[i].end)
                continue; /* empty tensors occupy nothing */
            if (prev && ranges[i].begin < prev_end) {
                st = error_set(GPTOSS_ERR_FORMAT,
                               "%s: tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] "
                               "and [%llu, %llu])",
                               path, prev->name, ranges[i].name, (unsigned long long)prev->begin,
                               (unsigned long long)prev->end, (unsigned long long)ranges[i].begin,
                               (unsigned long long)ranges[i].end);
                break;
            }
            prev = &ranges[i];
            prev_end = ranges[i].end;
        }
    }
    free(ranges);
    if (st != GPTOSS_OK) {
        safetensors_free_tensors(tensors, n);
        return st;
    }
    qsort(tensors, n, sizeof *tensors, safetensors_cmp_name);
    *tensors_out = tensors;
    *n_out = n;
    return GPTOSS_OK;
}

enum gptoss_status safetensors_open(const char *path, struct safetensors **st_out)
{
    *st_out = NULL;
    struct file_map map;
    enum gptoss_status st = file_map_open(path, &map);
    if (st != GPTOSS_OK)
        return st;

    json_t *root = NULL;
    struct tensor *tensors = NULL;
    size_t n_tensors = 0;
    if (map.size < 8) {
        st = error_set(GPTOSS_ERR_FORMAT,
                       "%s: file is %zu bytes, too short for a safetensors header length", path,
                       map.size);
        goto fail;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | map.data[i];
    if (header_len < 2 || header_len > map.size - 8 || header_len > SAFETENSORS_MAX_HEADER) {
        st = error_set(GPTOSS_ERR_FORMAT,
                       "%s: header length %llu is impossible (file is %zu bytes; the header must "
                       "be 2 to %u bytes and fit in the file)",
                       path, (unsigned long long)header_len, map.size, SAFETENSORS_MAX_HEADER);
        goto fail;
    }
    json_error_t jerr;
    root =
        json_loadb((const char *)map.data + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = error_set(GPTOSS_ERR_FORMAT, "%s: header is not valid JSON: %d:%d: %s", path,
                       jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = error_set(GPTOSS_ERR_FORMAT, "%s: header must be a JSON object", path);
        goto fail;
    }
    const unsigned char *data = map.data + 8 + header_len;
    st =
        safetensors_parse_header(root, path, data, map.size - 8 - header_len, &tensors, &n_tensors);
    if (st != GPTOSS_OK)
        goto fail;
    json_decref(root);

    struct safetensors *s = xmalloc(sizeof *s);
    s->path = xstrdup(path);
    s->map = map;
    s->tensors = tensors;
    s->n_tensors = n_tensors;
    *st_out = s;
    return GPTOSS_OK;

fail:
    json_decref(root);
    file_map_close(&map);
    return st;
}

void safetensors_close(struct safetensors *st)
{
    if (!st)
        return;
    safetensors_free_tensors(st->tensors, st->n_tensors);
    file_map_close(&st->map);
    free(st->path);
    free(st);
}

const struct tensor *safetensors_find(const struct safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->tensors[mid].name);
        if (c == 0)
            return &st->tensors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Tensor names are checkpoint names (ASCII in practice), but escape like JSON requires anyway. */
static void safetensors_put_json_string(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

unsigned char *safetensors_header_build(const struct tensor *tensors, size_t n, size_t *size_out)
{
    struct buf json;
    buf_init(&json);
    /* transformers refuses files whose metadata "format" is not a known framework. */
    buf_puts(&json, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tensor *t = &tensors[i];
        buf_putc(&json, ',');
        safetensors_put_json_string(&json, t->name);
        buf_printf(&json, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (uint32_t d = 0; d < t->n_dims; d++)
            buf_printf(&json, "%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
        buf_printf(&json, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                   (unsigned long long)(offset + t->n_bytes));
        offset += t->n_bytes;
    }
    buf_putc(&json, '}');
    /* Spaces after the JSON (as the safetensors package pads) align the data block to 8. */
    while ((8 + json.len) % 8 != 0)
        buf_putc(&json, ' ');

    size_t size = 8 + json.len;
    unsigned char *out = xmalloc(size);
    uint64_t len = json.len;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(len >> (8 * i));
    memcpy(out + 8, json.data, json.len);
    buf_deinit(&json);
    *size_out = size;
    return out;
}
