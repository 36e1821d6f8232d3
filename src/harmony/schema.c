/* schema.c — JSON schemas of tool parameters rendered as the TypeScript-like types that the
 * harmony format shows the model ("type f = (_: { city: string, }) => any;").
 *
 * The output must match openai-harmony's json_schema_to_typescript() byte for byte, since the
 * model was trained on that text. That function's quirks are reproduced on purpose: the three
 * different ways it prints a default value, the 3-space indent of oneOf variants against the
 * 4-space indent of nested objects, array items that keep their parent's indent, and a
 * "contains null" test that is a plain substring search. Non-string defaults are printed as
 * serde_json prints a value (compact JSON, floats in their shortest round-trip form as Rust's
 * ryu writes them), so this file carries its own JSON writer rather than jansson's.
 *
 * Properties come out in the order the schema text lists them: jansson keeps object keys in
 * insertion order, as serde_json does with the preserve_order feature harmony enables.
 */
#include "harmony.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void schema_ts(const json_t *schema, size_t indent, struct buf *out);

static void put_indent(struct buf *out, size_t indent)
{
    for (size_t i = 0; i < indent; i++)
        buf_putc(out, ' ');
}

/* The member `key` of an object, or NULL: serde_json's Value::get, which is None on anything
 * but an object. */
static const json_t *get(const json_t *v, const char *key)
{
    return json_is_object(v) ? json_object_get(v, key) : NULL;
}

/* The string member `key`, or NULL when absent or not a string. */
static const char *get_str(const json_t *v, const char *key)
{
    const json_t *m = get(v, key);
    return json_is_string(m) ? json_string_value(m) : NULL;
}

static bool is_nullable(const json_t *v)
{
    return json_is_true(get(v, "nullable"));
}

static bool is_enum(const json_t *v)
{
    const json_t *e = get(v, "enum");
    return json_is_array(e) && json_array_size(e) > 0;
}

/* Floats as ryu's format_finite writes them (serde_json's float output): the shortest digits
 * that read back to the same double, in plain notation when the decimal point falls within 16
 * digits of them ("0.001", "1.0", "100000.0") and as "1e20" / "1.5e-7" otherwise. */
static void put_float(struct buf *out, double d)
{
    if (d == 0) {
        buf_puts(out, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp is "[-]D[.DDD]e[+-]XX": collect the digits and the exponent. */
    const char *p = tmp;
    if (*p == '-') {
        buf_putc(out, '-');
        p++;
    }
    char digits[24];
    int len = 0;
    for (; *p != 'e'; p++) {
        if (*p != '.')
            digits[len++] = *p;
    }
    int exp10 = atoi(p + 1);
    while (len > 1 && digits[len - 1] == '0')
        len--;
    int k = exp10 - (len - 1); /* value = digits * 10^k */
    int kk = len + k;          /* position of the decimal point */
    if (k >= 0 && kk <= 16) {
        buf_append(out, digits, (size_t)len);
        for (int i = 0; i < k; i++)
            buf_putc(out, '0');
        buf_puts(out, ".0");
    } else if (kk > 0 && kk <= 16) {
        buf_append(out, digits, (size_t)kk);
        buf_putc(out, '.');
        buf_append(out, digits + kk, (size_t)(len - kk));
    } else if (kk > -5 && kk <= 0) {
        buf_puts(out, "0.");
        for (int i = 0; i < -kk; i++)
            buf_putc(out, '0');
        buf_append(out, digits, (size_t)len);
    } else {
        buf_putc(out, digits[0]);
        if (len > 1) {
            buf_putc(out, '.');
            buf_append(out, digits + 1, (size_t)(len - 1));
        }
        buf_printf(out, "e%d", kk - 1);
    }
}

/* A JSON string with serde_json's escapes: quote, backslash and control characters only,
 * \u00XX in lowercase hex for the controls without a short form. */
static void put_json_string(struct buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    static const char plain[] = "\"\\\b\f\n\r\t", escaped[] = "\"\\bfnrt";
    buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *hit = c ? strchr(plain, c) : NULL;
        if (hit) {
            buf_putc(out, '\\');
            buf_putc(out, escaped[hit - plain]);
        } else if (c < 0x20) {
            buf_puts(out, "\\u00");
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        } else {
            buf_putc(out, (char)c);
        }
    }
    buf_putc(out, '"');
}

/* A value as serde_json's Display writes it: compact JSON, members in insertion order. */
static void put_json(struct buf *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *obj = (json_t *)v;
        bool first = true;
        buf_putc(out, '{');
        for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
            if (!first)
                buf_putc(out, ',');
            first = false;
            const char *key = json_object_iter_key(it);
            put_json_string(out, key, strlen(key));
            buf_putc(out, ':');
            put_json(out, json_object_iter_value(it));
        }
        buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY:
        buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_putc(out, ',');
            put_json(out, json_array_get(v, i));
        }
        buf_putc(out, ']');
        break;
    case JSON_STRING: put_json_string(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: put_float(out, json_real_value(v)); break;
    case JSON_TRUE: buf_puts(out, "true"); break;
    case JSON_FALSE: buf_puts(out, "false"); break;
    case JSON_NULL: buf_puts(out, "null"); break;
    }
}

/* The value of a "default: ..." comment. A string default is quoted unless the schema is an
 * enum; an enum's string default is then written bare where bare_enum_string holds (properties
 * and their oneOf variants) and as a JSON string otherwise (variants of a top-level oneOf). */
static void put_default(struct buf *out, const json_t *schema, const json_t *def,
                        bool bare_enum_string)
{
    if (json_is_string(def) && !is_enum(schema)) {
        buf_putc(out, '"');
        buf_append(out, json_string_value(def), json_string_length(def));
        buf_putc(out, '"');
    } else if (json_is_string(def) && bare_enum_string) {
        buf_append(out, json_string_value(def), json_string_length(def));
    } else {
        put_json(out, def);
    }
}

/* Renders `schema` with `indent` and appends " | null" when the schema is nullable and its
 * rendering does not already mention null anywhere. */
static void schema_ts_nullable(const json_t *schema, size_t indent, struct buf *out)
{
    size_t start = out->len;
    schema_ts(schema, indent, out);
    if (is_nullable(schema) && !(out->len > start && strstr(out->data + start, "null")))
        buf_puts(out, " | null");
}

/* The trailing " // DESC default: VALUE" of a oneOf variant, when it has either. enum_bare is
 * put_default's: harmony prints an enum's string default bare inside properties only. */
static void put_variant_comment(struct buf *out, const json_t *variant, const char *desc,
                                bool enum_bare)
{
    const json_t *def = get(variant, "default");
    if (!desc && !def)
        return;
    buf_puts(out, " // ");
    if (desc)
        buf_puts(out, desc);
    if (desc && def)
        buf_putc(out, ' ');
    if (def) {
        buf_puts(out, "default: ");
        put_default(out, variant, def, enum_bare);
    }
}

/* A oneOf that is the whole schema: each variant on a new line as " | T", with its description
 * and default as a trailing comment. */
static void schema_ts_one_of(const json_t *variants, size_t indent, struct buf *out)
{
    for (size_t i = 0; i < json_array_size(variants); i++) {
        const json_t *variant = json_array_get(variants, i);
        buf_putc(out, '\n');
        put_indent(out, indent);
        buf_puts(out, " | ");
        schema_ts_nullable(variant, indent + 3, out);
        put_variant_comment(out, variant, get_str(variant, "description"), false);
    }
}

/* A property whose schema is a oneOf: the property's description (unless the first variant
 * repeats it) and default above the name, then one " | T" line per variant with its own
 * description and default as a trailing comment, then a line holding the comma. */
static void schema_ts_one_of_property(const char *key, bool required, const json_t *prop,
                                      const json_t *variants, size_t indent, struct buf *out)
{
    const char *prop_desc = get_str(prop, "description");
    const char *first_desc = get_str(json_array_get(variants, 0), "description");
    bool desc_above = prop_desc && !(first_desc && strcmp(prop_desc, first_desc) == 0);
    if (desc_above) {
        put_indent(out, indent);
        buf_printf(out, "// %s\n", prop_desc);
    }
    const json_t *def = get(prop, "default");
    if (def) {
        put_indent(out, indent);
        buf_puts(out, "// default: ");
        put_default(out, prop, def, true);
        buf_putc(out, '\n');
    }
    put_indent(out, indent);
    buf_printf(out, "%s%s:\n", key, required ? "" : "?");
    for (size_t i = 0; i < json_array_size(variants); i++) {
        const json_t *variant = json_array_get(variants, i);
        put_indent(out, indent);
        buf_puts(out, " | ");
        schema_ts_nullable(variant, indent + 3, out);
        const char *desc = get_str(variant, "description");
        if (i == 0 && desc_above)
            desc = NULL;
        if (desc && prop_desc && strcmp(desc, prop_desc) == 0)
            desc = NULL;
        put_variant_comment(out, variant, desc, true);
        buf_putc(out, '\n');
    }
    put_indent(out, indent);
    buf_puts(out, ",\n");
}

static bool in_required(const json_t *required, const char *key)
{
    for (size_t i = 0; i < json_array_size(required); i++) {
        const json_t *r = json_array_get(required, i);
        if (json_is_string(r) && strcmp(json_string_value(r), key) == 0)
            return true;
    }
    return false;
}

/* An object type: optional description comment, then "{", one line per property preceded by
 * its title, description and examples as comments, and the closing brace at `indent`. */
static void schema_ts_object(const json_t *schema, size_t indent, struct buf *out)
{
    const char *desc = get_str(schema, "description");
    if (desc) {
        put_indent(out, indent);
        buf_printf(out, "// %s\n", desc);
    }
    buf_puts(out, "{\n");
    const json_t *props = get(schema, "properties");
    const json_t *required = get(schema, "required");
    json_t *obj = (json_t *)props; /* NULL or not an object: no properties */
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        const json_t *prop = json_object_iter_value(it);
        const char *title = get_str(prop, "title");
        if (title) {
            put_indent(out, indent);
            buf_printf(out, "// %s\n", title);
            put_indent(out, indent);
            buf_puts(out, "//\n");
        }
        const json_t *one_of = get(prop, "oneOf");
        const char *pdesc = get_str(prop, "description");
        if (!one_of && pdesc) {
            put_indent(out, indent);
            buf_printf(out, "// %s\n", pdesc);
        }
        const json_t *examples = get(prop, "examples");
        if (json_is_array(examples) && json_array_size(examples) > 0) {
            put_indent(out, indent);
            buf_puts(out, "// Examples:\n");
            for (size_t i = 0; i < json_array_size(examples); i++) {
                const json_t *ex = json_array_get(examples, i);
                if (json_is_string(ex)) {
                    put_indent(out, indent);
                    buf_printf(out, "// - \"%s\"\n", json_string_value(ex));
                }
            }
        }
        bool req = json_is_array(required) && in_required(required, key);
        if (json_is_array(one_of)) {
            schema_ts_one_of_property(key, req, prop, one_of, indent, out);
            continue;
        }
        put_indent(out, indent);
        buf_printf(out, "%s%s: ", key, req ? "" : "?");
        schema_ts_nullable(prop, indent + 4, out);
        buf_putc(out, ',');
        const json_t *def = get(prop, "default");
        if (!one_of && def) {
            buf_puts(out, " // default: ");
            put_default(out, prop, def, true);
        }
        buf_putc(out, '\n');
    }
    put_indent(out, indent);
    buf_putc(out, '}');
}

/* The type of `schema` with nested lines indented by `indent` spaces. */
static void schema_ts(const json_t *schema, size_t indent, struct buf *out)
{
    const json_t *one_of = get(schema, "oneOf");
    if (json_is_array(one_of)) {
        schema_ts_one_of(one_of, indent, out);
        return;
    }
    const json_t *type = get(schema, "type");
    if (json_is_array(type)) {
        bool first = true;
        for (size_t i = 0; i < json_array_size(type); i++) {
            const json_t *t = json_array_get(type, i);
            if (!json_is_string(t))
                continue;
            if (!first)
                buf_puts(out, " | ");
            first = false;
            const char *name = json_string_value(t);
            buf_puts(out, strcmp(name, "integer") == 0 ? "number" : name);
        }
        if (!first)
            return;
    }
    if (!json_is_string(type)) {
        buf_puts(out, "any");
        return;
    }
    const char *t = json_string_value(type);
    if (strcmp(t, "object") == 0) {
        schema_ts_object(schema, indent, out);
    } else if (strcmp(t, "string") == 0) {
        const json_t *values = get(schema, "enum");
        bool first = true;
        for (size_t i = 0; i < json_array_size(values); i++) {
            const json_t *v = json_array_get(values, i);
            if (!json_is_string(v))
                continue;
            if (!first)
                buf_puts(out, " | ");
            first = false;
            buf_printf(out, "\"%s\"", json_string_value(v));
        }
        if (first)
            buf_puts(out, "string");
    } else if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0) {
        buf_puts(out, "number");
    } else if (strcmp(t, "boolean") == 0) {
        buf_puts(out, "boolean");
    } else if (strcmp(t, "array") == 0) {
        const json_t *items = get(schema, "items");
        if (items) {
            schema_ts(items, indent, out);
            buf_puts(out, "[]");
        } else {
            buf_puts(out, "Array<any>");
        }
    } else {
        buf_puts(out, "any");
    }
}

enum gptoss_status harmony_schema_to_typescript(const char *schema_json, struct buf *out)
{
    if (!schema_json)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "tool parameters: no JSON text");
    json_error_t err;
    json_t *schema = json_loads(schema_json, JSON_DECODE_ANY, &err);
    if (!schema) {
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "tool parameters are not valid JSON: %s (line %d, column %d)", err.text,
                         err.line, err.column);
    }
    schema_ts(schema, 0, out);
    json_decref(schema);
    return GPTOSS_OK;
}
