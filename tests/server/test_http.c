/* test_http.c — the HTTP layer over real sockets: routing, CORS, limits, keys, streams, shutdown.
 *
 * Each test talks to a server on an ephemeral port through a tiny raw-socket client (below) that
 * writes requests byte for byte and reads responses back, undoing chunked transfer encoding, so
 * what is checked is exactly what goes over the wire. The test routes echo JSON, answer a public
 * GET, stream numbered Server-Sent Events from a source that blocks briefly between chunks, and
 * block in a slow handler that polls http_exchange_client_gone(). Stream sources count how they
 * were closed, so "exactly once, with the right reason" is checked for every way a stream ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- Clock --------------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Stream sources and the handlers ------------------------------------------------------ */

/* How streams were closed, by reason; reset by each test that looks. */
static atomic_int n_closed[3];
static atomic_int n_reads_after_close;
static atomic_bool slow_saw_gone;
static atomic_int n_slow_started;

struct counting_source {
    int n_chunks; /* -1: endless */
    int i_next;
    int delay_ms;  /* each read blocks this long */
    double gap_ms; /* and returns 0 until this long has passed since the last chunk */
    double t_last;
    bool closed;
};

static long counting_read(void *user, char *buf, size_t max)
{
    struct counting_source *cs = user;
    if (cs->closed)
        atomic_fetch_add(&n_reads_after_close, 1);
    if (cs->delay_ms > 0)
        sleep_ms(cs->delay_ms); /* the engine has not produced the next token yet */
    if (now_ms() - cs->t_last < cs->gap_ms)
        return 0;
    cs->t_last = now_ms();
    if (cs->n_chunks >= 0 && cs->i_next >= cs->n_chunks)
        return -1;
    if (cs->n_chunks < 0 && cs->i_next % 2 == 1) {
        cs->i_next++;
        return 0; /* an endless source has nothing every other time */
    }
    int n = snprintf(buf, max, "data: %d\n\n", cs->i_next++);
    return n;
}

static void counting_close(void *user, enum http_close reason)
{
    struct counting_source *cs = user;
    cs->closed = true;
    atomic_fetch_add(&n_closed[reason], 1);
    free(cs);
}

static void reset_counters(void)
{
    for (int i = 0; i < 3; i++)
        atomic_store(&n_closed[i], 0);
    atomic_store(&n_reads_after_close, 0);
    atomic_store(&slow_saw_gone, false);
    atomic_store(&n_slow_started, 0);
}

static void handle_echo(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    size_t len;
    const char *body = http_exchange_body(ex, &len);
    json_error_t jerr;
    json_t *in = json_loadb(body, len, 0, &jerr);
    if (in == NULL) {
        http_respond_error(ex, 400, "invalid_request_error", jerr.text, "body", NULL);
        return;
    }
    const char *q = http_exchange_query(ex, "q");
    const char *ua = http_exchange_header(ex, "x-test");
    json_t *out =
        json_pack("{s:o, s:s, s:s, s:s?, s:s?}", "echo", in, "method", http_exchange_method(ex),
                  "path", http_exchange_path(ex), "q", q, "x_test", ua);
    http_respond_json(ex, 200, out);
}

static void handle_public(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    http_respond(ex, 200, "text/plain", "ok", 2);
}

static void handle_prefix(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    const char *p = http_exchange_path(ex);
    http_respond(ex, 200, "text/plain", p, strlen(p));
}

static void handle_stream(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    const char *n = http_exchange_query(ex, "n");
    const char *gap = http_exchange_query(ex, "gap");
    struct counting_source *cs = calloc(1, sizeof *cs);
    cs->n_chunks = n != NULL ? atoi(n) : -1;
    const char *delay = http_exchange_query(ex, "delay");
    cs->delay_ms = delay != NULL ? atoi(delay) : 20;
    cs->gap_ms = gap != NULL ? atof(gap) : 0;
    cs->t_last = now_ms();
    struct http_stream_source src = {counting_read, counting_close, cs};
    http_respond_stream(ex, 200, "text/event-stream", &src);
}

static void handle_slow(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    atomic_fetch_add(&n_slow_started, 1);
    double t0 = now_ms();
    while (now_ms() - t0 < 5000) {
        if (http_exchange_client_gone(ex)) {
            atomic_store(&slow_saw_gone, true);
            break;
        }
        sleep_ms(20);
    }
    http_respond(ex, 200, "text/plain", "late", 4);
}

static void handle_sleep(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    const char *ms = http_exchange_query(ex, "ms");
    sleep_ms(ms != NULL ? atol(ms) : 0);
    http_respond(ex, 200, "text/plain", "done", 4);
}

static void handle_silent(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    (void)ex; /* answers nothing: the layer must send a 500 */
}

static const struct http_route routes[] = {
    {"POST", "/echo", handle_echo, false},    {"GET", "/public", handle_public, true},
    {"GET", "/files/*", handle_prefix, true}, {"POST", "/stream", handle_stream, false},
    {"POST", "/slow", handle_slow, false},    {"GET", "/silent", handle_silent, true},
    {"GET", "/sleep", handle_sleep, true},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])
#define MAX_BODY 1024

static enum gptoss_status start(struct http_server **out, const char *const *keys, size_t n_keys)
{
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.max_body_bytes = MAX_BODY;
    cfg.read_timeout_s = 5;
    cfg.api_keys = keys;
    cfg.n_api_keys = n_keys;
    static const char *const origins[] = {"http://example.com"};
    cfg.allowed_origins = origins;
    cfg.n_allowed_origins = 1;
    cfg.quiet = true;
    return http_server_create(&cfg, routes, N_ROUTES, NULL, out);
}

/* ---- A raw HTTP/1.1 client ------------------------------------------------------------------ */

struct client {
    int fd;
    struct buf in; /* bytes received and not yet consumed */
    size_t pos;
};

struct response {
    int status;
    struct buf head; /* status line and headers, NUL-terminated */
    struct buf body; /* de-chunked */
};

static bool client_open_at(struct client *c, int family, const char *addr, uint16_t port)
{
    memset(c, 0, sizeof *c);
    buf_init(&c->in);
    c->fd = socket(family, SOCK_STREAM, 0);
    if (c->fd < 0)
        return false;
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {0};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a.sin6_addr);
        rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, addr, &a.sin_addr);
        rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    }
    return rc == 0;
}

static void client_open(struct client *c, uint16_t port)
{
    assert_true(client_open_at(c, AF_INET, "127.0.0.1", port));
}

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_deinit(&c->in);
}

static bool client_send(struct client *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Receives more bytes; false on end of stream, error or timeout. */
static bool client_fill(struct client *c)
{
    char tmp[4096];
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n <= 0)
        return false;
    buf_append(&c->in, tmp, (size_t)n);
    return true;
}

/* The next line (without CRLF) into line; false when the stream ends first. */
static bool client_line(struct client *c, char *line, size_t size)
{
    for (;;) {
        const char *start = c->in.data ? c->in.data + c->pos : NULL;
        const char *eol = start ? strstr(start, "\r\n") : NULL;
        if (eol != NULL) {
            size_t n = (size_t)(eol - start);
            if (n >= size)
                n = size - 1;
            memcpy(line, start, n);
            line[n] = '\0';
            c->pos += (size_t)(eol - start) + 2;
            return true;
        }
        if (!client_fill(c))
            return false;
    }
}

static bool client_bytes(struct client *c, size_t n, struct buf *out)
{
    while (c->in.len - c->pos < n)
        if (!client_fill(c))
            return false;
    buf_append(out, c->in.data + c->pos, n);
    c->pos += n;
    return true;
}

static const char *header_of(const struct response *r, const char *name)
{
    static _Thread_local char value[1024];
    size_t n = strlen(name);
    const char *p = r->head.data;
    while (p != NULL && (p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len >= sizeof value)
                len = sizeof value - 1;
            memcpy(value, v, len);
            value[len] = '\0';
            return value;
        }
    }
    return NULL;
}

/* Reads the status line and headers only. */
static bool client_read_head(struct client *c, struct response *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->head);
    buf_init(&r->body);
    char line[4096];
    if (!client_line(c, line, sizeof line))
        return false;
    if (sscanf(line, "HTTP/1.%*d %d", &r->status) != 1)
        return false;
    buf_puts(&r->head, line);
    for (;;) {
        if (!client_line(c, line, sizeof line))
            return false;
        buf_puts(&r->head, "\r\n");
        if (line[0] == '\0')
            return true;
        buf_puts(&r->head, line);
    }
}

/* Reads one whole response (for a HEAD-less request); false on a malformed or cut response. */
static bool client_read(struct client *c, struct response *r)
{
    if (!client_read_head(c, r))
        return false;
    const char *te = header_of(r, "Transfer-Encoding");
    const char *cl = header_of(r, "Content-Length");
    if (te != NULL && strcasecmp(te, "chunked") == 0) {
        for (;;) {
            char line[64];
            if (!client_line(c, line, sizeof line))
                return false;
            size_t n = strtoul(line, NULL, 16);
            if (n == 0)
                return client_line(c, line, sizeof line); /* the empty trailer line */
            if (!client_bytes(c, n, &r->body) || !client_line(c, line, sizeof line))
                return false;
        }
    }
    if (cl != NULL)
        return client_bytes(c, strtoul(cl, NULL, 10), &r->body);
    if (r->status == 204 || r->status == 304)
        return true;
    while (client_fill(c)) /* until the server closes */
        ;
    buf_append(&r->body, c->in.data + c->pos, c->in.len - c->pos);
    c->pos = c->in.len;
    return true;
}

static void response_deinit(struct response *r)
{
    buf_deinit(&r->head);
    buf_deinit(&r->body);
}

static void format_request(struct buf *b, const char *method, const char *path, const char *headers,
                           const char *body)
{
    buf_printf(b, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s", method, path, headers ? headers : "");
    if (body != NULL)
        buf_printf(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
    else
        buf_puts(b, "\r\n");
}

/* One request on a fresh connection; the response lands in *r. */
static void request(uint16_t port, const char *method, const char *path, const char *headers,
                    const char *body, struct response *r)
{
    struct client c;
    client_open(&c, port);
    struct buf req;
    buf_init(&req);
    format_request(&req, method, path, headers, body);
    assert_true(client_send(&c, req.data, req.len));
    buf_deinit(&req);
    assert_true(client_read(&c, r));
    client_close(&c);
}

/* The "error" object of an OpenAI error body, checked for its four fields. */
static json_t *error_of(const struct response *r)
{
    json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    assert_non_null(doc);
    json_t *err = json_object_get(doc, "error");
    assert_true(json_is_object(err));
    assert_true(json_is_string(json_object_get(err, "message")));
    assert_true(json_is_string(json_object_get(err, "type")));
    assert_non_null(json_object_get(err, "param"));
    assert_non_null(json_object_get(err, "code"));
    json_incref(err);
    json_decref(doc);
    return err;
}

static bool wait_until(atomic_int *counter, int want, double timeout_ms)
{
    double t0 = now_ms();
    while (atomic_load(counter) < want && now_ms() - t0 < timeout_ms)
        sleep_ms(5);
    return atomic_load(counter) >= want;
}

/* ---- Tests --------------------------------------------------------------------------------- */

static struct http_server *server;
static uint16_t port;

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    if (start(&server, NULL, 0) != GPTOSS_OK) {
        fprintf(stderr, "%s\n", error_message());
        return -1;
    }
    port = http_server_port(server);
    return port != 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    http_server_destroy(server);
    return 0;
}

static void test_json_round_trip(void **state)
{
    (void)state;
    struct response r;
    request(port, "POST", "/echo?q=a%20b", "X-Test: yes\r\n", "{\"x\":[1,2,\"\\u00e9\"]}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "Content-Type"), "application/json");
    assert_null(header_of(&r, "Access-Control-Allow-Origin")); /* no Origin: no grant */
    assert_string_equal(r.body.data, "{\"echo\":{\"x\":[1,2,\"\xC3\xA9\"]},\"method\":\"POST\","
                                     "\"path\":\"/echo\",\"q\":\"a b\",\"x_test\":\"yes\"}");
    response_deinit(&r);

    /* a bad body reaches the handler, which answers with an OpenAI error */
    request(port, "POST", "/echo", NULL, "{nope", &r);
    assert_int_equal(r.status, 400);
    json_t *err = error_of(&r);
    assert_string_equal(json_string_value(json_object_get(err, "param")), "body");
    json_decref(err);
    response_deinit(&r);

    /* HEAD gets the GET route's headers without its body */
    struct client c;
    client_open(&c, port);
    const char *head =
        "HEAD /public HTTP/1.1\r\nHost: x\r\n\r\nGET /public HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(client_send(&c, head, strlen(head)));
    assert_true(client_read_head(&c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "Content-Length"), "2");
    response_deinit(&r);
    assert_true(client_read(&c, &r)); /* the next response follows at once */
    assert_string_equal(r.body.data, "ok");
    response_deinit(&r);
    client_close(&c);

    request(port, "GET", "/files/a/b.txt", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "/files/a/b.txt");
    response_deinit(&r);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    struct response r;
    request(port, "GET", "/v1/nope", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_null(header_of(&r, "Access-Control-Allow-Origin")); /* no Origin: no grant */
    json_t *err = error_of(&r);
    assert_string_equal(json_string_value(json_object_get(err, "message")),
                        "Invalid URL (GET /v1/nope)");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_true(json_is_null(json_object_get(err, "param")));
    assert_true(json_is_null(json_object_get(err, "code")));
    json_decref(err);
    response_deinit(&r);

    request(port, "GET", "/echo", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(header_of(&r, "Allow"), "POST, OPTIONS");
    err = error_of(&r);
    json_decref(err);
    response_deinit(&r);

    request(port, "GET", "/silent", NULL, NULL, &r);
    assert_int_equal(r.status, 500);
    json_decref(error_of(&r));
    response_deinit(&r);
}

static void test_preflight(void **state)
{
    (void)state;
    struct response r;
    request(port, "OPTIONS", "/echo",
            "Origin: http://example.com\r\nAccess-Control-Request-Method: POST\r\n", NULL, &r);
    assert_int_equal(r.status, 204);
    /* An allowed origin gets its own name back; the answer depends on it. */
    assert_string_equal(header_of(&r, "Access-Control-Allow-Origin"), "http://example.com");
    assert_string_equal(header_of(&r, "Vary"), "Origin");
    assert_string_equal(header_of(&r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
    assert_string_equal(header_of(&r, "Access-Control-Allow-Headers"),
                        "Authorization, Content-Type");
    assert_int_equal(r.body.len, 0);
    response_deinit(&r);

    /* Any other site: the preflight is answered, but grants nothing. */
    request(port, "OPTIONS", "/echo",
            "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_null(header_of(&r, "Access-Control-Allow-Origin"));
    response_deinit(&r);

    request(port, "OPTIONS", "/echo",
            "Access-Control-Request-Headers: authorization, x-stainless-os\r\n", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(header_of(&r, "Access-Control-Allow-Headers"),
                        "authorization, x-stainless-os");
    response_deinit(&r);
}

static void test_body_limit(void **state)
{
    (void)state;
    char *big = malloc(MAX_BODY + 100);
    memset(big, ' ', MAX_BODY + 99);
    big[0] = '1';
    big[MAX_BODY + 99] = '\0';
    struct response r;
    request(port, "POST", "/echo", NULL, big, &r);
    assert_int_equal(r.status, 413);
    json_decref(error_of(&r));
    response_deinit(&r);

    /* a body exactly at the limit passes */
    big[0] = '[';
    big[1] = '1';
    big[MAX_BODY - 1] = ']';
    big[MAX_BODY] = '\0';
    request(port, "POST", "/echo", NULL, big, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data,
                        "{\"echo\":[1],\"method\":\"POST\",\"path\":\"/echo\",\"q\":null,"
                        "\"x_test\":null}");
    response_deinit(&r);

    /* chunked upload that grows past the limit: counted, dropped, then 413 */
    struct client c;
    client_open(&c, port);
    struct buf req;
    buf_init(&req);
    buf_puts(&req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4; i++) {
        buf_printf(&req, "%x\r\n", 500);
        buf_append(&req, big, 500);
        buf_puts(&req, "\r\n");
    }
    buf_puts(&req, "0\r\n\r\n");
    assert_true(client_send(&c, req.data, req.len));
    assert_true(client_read(&c, &r));
    assert_int_equal(r.status, 413);
    response_deinit(&r);
    buf_deinit(&req);
    client_close(&c);
    free(big);
}

static void test_api_keys(void **state)
{
    (void)state;
    static const char *const keys[] = {"sk-first", "sk-second-key"};
    struct http_server *s;
    assert_int_equal(start(&s, keys, 2), GPTOSS_OK);
    uint16_t p = http_server_port(s);
    struct response r;

    request(p, "POST", "/echo", NULL, "{}", &r);
    assert_int_equal(r.status, 401);
    json_t *err = error_of(&r);
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    json_decref(err);
    response_deinit(&r);

    const char *wrong[] = {"Authorization: Bearer sk-firsT\r\n", "Authorization: Bearer sk-fir\r\n",
                           "Authorization: Bearer sk-first-and-more\r\n",
                           "Authorization: Basic sk-first\r\n", "Authorization: Bearer \r\n"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        request(p, "POST", "/echo", wrong[i], "{}", &r);
        assert_int_equal(r.status, 401);
        err = error_of(&r);
        assert_string_equal(json_string_value(json_object_get(err, "message")),
                            "Incorrect API key provided.");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "invalid_api_key");
        assert_true(json_is_null(json_object_get(err, "param")));
        json_decref(err);
        response_deinit(&r);
    }

    request(p, "POST", "/echo", "Authorization: Bearer sk-first\r\n", "{}", &r);
    assert_int_equal(r.status, 200);
    response_deinit(&r);
    request(p, "POST", "/echo", "authorization: bearer sk-second-key\r\n", "{}", &r);
    assert_int_equal(r.status, 200);
    response_deinit(&r);

    /* public routes and preflights need no key */
    request(p, "GET", "/public", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "ok");
    response_deinit(&r);
    request(p, "OPTIONS", "/echo", NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    response_deinit(&r);

    /* a refused request on a kept-alive connection leaves the connection usable */
    struct client c;
    client_open(&c, p);
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/echo", NULL, "{\"a\":1}");
    format_request(&req, "POST", "/echo", "Authorization: Bearer sk-first\r\n", "{\"a\":2}");
    assert_true(client_send(&c, req.data, req.len));
    assert_true(client_read(&c, &r));
    assert_int_equal(r.status, 401);
    response_deinit(&r);
    assert_true(client_read(&c, &r));
    assert_int_equal(r.status, 200);
    response_deinit(&r);
    buf_deinit(&req);
    client_close(&c);

    http_server_destroy(s);
}

static void test_stream(void **state)
{
    (void)state;
    reset_counters();
    struct response r;
    request(port, "POST", "/stream?n=20", NULL, "{}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "Content-Type"), "text/event-stream");
    assert_string_equal(header_of(&r, "Cache-Control"), "no-cache");
    assert_string_equal(header_of(&r, "X-Accel-Buffering"), "no");
    assert_string_equal(header_of(&r, "Transfer-Encoding"), "chunked");
    assert_null(header_of(&r, "Access-Control-Allow-Origin")); /* no Origin: no grant */
    struct buf want;
    buf_init(&want);
    for (int i = 0; i < 20; i++)
        buf_printf(&want, "data: %d\n\n", i);
    assert_int_equal(r.body.len, want.len);
    assert_memory_equal(r.body.data, want.data, want.len);
    buf_deinit(&want);
    response_deinit(&r);
    assert_true(wait_until(&n_closed[HTTP_CLOSE_DONE], 1, 1000));
    sleep_ms(50);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_DONE]), 1);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_CLIENT_GONE]), 0);
    assert_int_equal(atomic_load(&n_reads_after_close), 0);

    /* an empty stream, then a normal request on the same connection */
    struct client c;
    client_open(&c, port);
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/stream?n=0", NULL, "{}");
    format_request(&req, "GET", "/public", NULL, NULL);
    assert_true(client_send(&c, req.data, req.len));
    assert_true(client_read(&c, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    response_deinit(&r);
    assert_true(client_read(&c, &r));
    assert_string_equal(r.body.data, "ok");
    response_deinit(&r);
    buf_deinit(&req);
    client_close(&c);
    assert_true(wait_until(&n_closed[HTTP_CLOSE_DONE], 2, 1000));
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* A source that returns 0 at once, again and again, must not make the server spin. */
static void test_stream_does_not_spin(void **state)
{
    (void)state;
    reset_counters();
    double wall0 = now_ms(), cpu0 = cpu_ms();
    struct response r;
    request(port, "POST", "/stream?n=2&delay=0&gap=400", NULL, "{}", &r);
    double wall = now_ms() - wall0, cpu = cpu_ms() - cpu0;
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "data: 0\n\ndata: 1\n\n");
    response_deinit(&r);
    assert_true(wall >= 1200);
    assert_true(cpu < 0.2 * wall);
    assert_true(wait_until(&n_closed[HTTP_CLOSE_DONE], 1, 1000));
}

static void test_stream_client_gone(void **state)
{
    (void)state;
    reset_counters();
    struct client c;
    client_open(&c, port);
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/stream", NULL, "{}"); /* endless */
    assert_true(client_send(&c, req.data, req.len));
    buf_deinit(&req);
    struct response r;
    assert_true(client_read_head(&c, &r));
    assert_int_equal(r.status, 200);
    char line[64];
    assert_true(client_line(&c, line, sizeof line)); /* the first chunk's size */
    response_deinit(&r);
    double t0 = now_ms();
    client_close(&c);
    assert_true(wait_until(&n_closed[HTTP_CLOSE_CLIENT_GONE], 1, 1000));
    assert_true(now_ms() - t0 < 1000);
    sleep_ms(100);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_CLIENT_GONE]), 1);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_DONE]), 0);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_SHUTDOWN]), 0);
    assert_int_equal(atomic_load(&n_reads_after_close), 0);
}

static void test_slow_client_gone(void **state)
{
    (void)state;
    reset_counters();
    struct client c;
    client_open(&c, port);
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/slow", NULL, "{}");
    assert_true(client_send(&c, req.data, req.len));
    buf_deinit(&req);
    assert_true(wait_until(&n_slow_started, 1, 1000));
    sleep_ms(100);
    assert_false(atomic_load(&slow_saw_gone));
    double t0 = now_ms();
    client_close(&c);
    while (!atomic_load(&slow_saw_gone) && now_ms() - t0 < 1000)
        sleep_ms(5);
    assert_true(atomic_load(&slow_saw_gone));
}

static void test_keep_alive_and_pipelining(void **state)
{
    (void)state;
    struct client c;
    client_open(&c, port);
    struct response r;
    struct buf req;
    buf_init(&req);
    for (int i = 0; i < 2; i++) { /* two requests, one after the other, on one connection */
        buf_reset(&req);
        format_request(&req, "POST", "/echo", NULL, i == 0 ? "[0]" : "[1]");
        assert_true(client_send(&c, req.data, req.len));
        assert_true(client_read(&c, &r));
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body.data, i == 0 ? "[0]" : "[1]"));
        response_deinit(&r);
    }
    /* three requests in one write; the answers come back in order */
    buf_reset(&req);
    format_request(&req, "POST", "/echo", NULL, "[\"a\"]");
    format_request(&req, "GET", "/public", NULL, NULL);
    format_request(&req, "POST", "/echo", NULL, "[\"c\"]");
    assert_true(client_send(&c, req.data, req.len));
    assert_true(client_read(&c, &r));
    assert_non_null(strstr(r.body.data, "[\"a\"]"));
    response_deinit(&r);
    assert_true(client_read(&c, &r));
    assert_string_equal(r.body.data, "ok");
    response_deinit(&r);
    assert_true(client_read(&c, &r));
    assert_non_null(strstr(r.body.data, "[\"c\"]"));
    response_deinit(&r);
    buf_deinit(&req);
    client_close(&c);
}

#define N_PARALLEL 64

static atomic_int n_parallel_ok;

static void *parallel_client(void *arg)
{
    intptr_t i = (intptr_t)arg;
    struct client c;
    if (!client_open_at(&c, AF_INET, "127.0.0.1", port)) {
        client_close(&c);
        return NULL;
    }
    char body[64];
    snprintf(body, sizeof body, "[%d]", (int)i);
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/echo", NULL, body);
    struct response r;
    if (client_send(&c, req.data, req.len) && client_read(&c, &r)) {
        if (r.status == 200 && r.body.data != NULL && strstr(r.body.data, body) != NULL)
            atomic_fetch_add(&n_parallel_ok, 1);
        response_deinit(&r);
    }
    buf_deinit(&req);
    client_close(&c);
    return NULL;
}

static void test_concurrent_connections(void **state)
{
    (void)state;
    atomic_store(&n_parallel_ok, 0);
    pthread_t threads[N_PARALLEL];
    for (intptr_t i = 0; i < N_PARALLEL; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, parallel_client, (void *)i), 0);
    for (int i = 0; i < N_PARALLEL; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&n_parallel_ok), N_PARALLEL);
}

static void test_busy_port(void **state)
{
    (void)state;
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = port;
    struct http_server *s = (struct http_server *)&cfg; /* must be overwritten with NULL */
    assert_int_equal(http_server_create(&cfg, routes, N_ROUTES, NULL, &s), GPTOSS_ERR_IO);
    assert_null(s);
    char want[128];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%u: Address already in use",
             (unsigned)port);
    assert_string_equal(error_message(), want);

    cfg.host = "no-such-host.invalid";
    cfg.port = 0;
    assert_int_equal(http_server_create(&cfg, routes, N_ROUTES, NULL, &s), GPTOSS_ERR_IO);
    assert_non_null(strstr(error_message(), "cannot listen on no-such-host.invalid:0: "));
}

static void test_other_hosts(void **state)
{
    (void)state;
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.quiet = false; /* an access-log line per host */
    const char *hosts[] = {"0.0.0.0", "::", "::1", "localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        struct http_server *s;
        cfg.host = hosts[i];
        if (http_server_create(&cfg, routes, N_ROUTES, NULL, &s) != GPTOSS_OK) {
            /* a machine without IPv6 */
            assert_non_null(strstr(hosts[i], ":"));
            fprintf(stderr, "note: %s\n", error_message());
            continue;
        }
        uint16_t p = http_server_port(s);
        struct client c;
        bool v6 = strcmp(hosts[i], "::1") == 0;
        assert_true(client_open_at(&c, v6 ? AF_INET6 : AF_INET, v6 ? "::1" : "127.0.0.1", p));
        const char *req = "GET /public HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_true(client_send(&c, req, strlen(req)));
        struct response r;
        assert_true(client_read(&c, &r));
        assert_int_equal(r.status, 200);
        response_deinit(&r);
        client_close(&c);
        http_server_destroy(s);
    }
}

static void test_destroy_with_open_stream(void **state)
{
    (void)state;
    reset_counters();
    struct http_server *s;
    assert_int_equal(start(&s, NULL, 0), GPTOSS_OK);
    uint16_t p = http_server_port(s);

    struct client streaming, slow, idle;
    client_open(&streaming, p);
    client_open(&slow, p);
    client_open(&idle, p); /* connected, sends nothing */
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/stream", NULL, "{}");
    assert_true(client_send(&streaming, req.data, req.len));
    buf_reset(&req);
    format_request(&req, "POST", "/slow", NULL, "{}");
    assert_true(client_send(&slow, req.data, req.len));
    buf_deinit(&req);
    struct response r;
    assert_true(client_read_head(&streaming, &r));
    assert_int_equal(r.status, 200);
    response_deinit(&r);
    assert_true(wait_until(&n_slow_started, 1, 1000));

    double t0 = now_ms();
    http_server_destroy(s);
    double took = now_ms() - t0;
    assert_true(took < 1000);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_SHUTDOWN]), 1);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_CLIENT_GONE]), 0);
    assert_int_equal(atomic_load(&n_closed[HTTP_CLOSE_DONE]), 0);
    assert_true(atomic_load(&slow_saw_gone));

    /* the clients see their connections end */
    char tmp[4096];
    while (recv(streaming.fd, tmp, sizeof tmp, 0) > 0)
        ;
    assert_true(recv(idle.fd, tmp, sizeof tmp, 0) <= 0);
    client_close(&streaming);
    client_close(&slow);
    client_close(&idle);
}

static void test_read_timeout(void **state)
{
    (void)state;
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.read_timeout_s = 1;
    cfg.quiet = true;
    struct http_server *s;
    assert_int_equal(http_server_create(&cfg, routes, N_ROUTES, NULL, &s), GPTOSS_OK);
    uint16_t p = http_server_port(s);

    /* a client that stops halfway through its headers is dropped */
    struct client c;
    client_open(&c, p);
    const char *part = "GET /public HTTP/1.1\r\nHost:";
    assert_true(client_send(&c, part, strlen(part)));
    double t0 = now_ms();
    char tmp[64];
    assert_true(recv(c.fd, tmp, sizeof tmp, 0) <= 0);
    assert_true(now_ms() - t0 < 3000);
    client_close(&c);

    /* a handler, or gaps in a stream, longer than the timeout do not lose the answer */
    struct response r;
    client_open(&c, p);
    const char *sleepy = "GET /sleep?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(client_send(&c, sleepy, strlen(sleepy)));
    assert_true(client_read(&c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "done");
    response_deinit(&r);

    /* (the headers of a stream go out before its first chunk is ready) */
    reset_counters();
    struct buf req;
    buf_init(&req);
    format_request(&req, "POST", "/stream?n=2&gap=1300", NULL, "{}");
    t0 = now_ms();
    assert_true(client_send(&c, req.data, req.len));
    buf_deinit(&req);
    assert_true(client_read_head(&c, &r));
    assert_true(now_ms() - t0 < 1000);
    response_deinit(&r);
    char line[64];
    struct buf body;
    buf_init(&body);
    for (int i = 0; i < 2; i++) {
        assert_true(client_line(&c, line, sizeof line));
        assert_true(client_bytes(&c, strtoul(line, NULL, 16), &body));
        assert_true(client_line(&c, line, sizeof line));
    }
    assert_true(client_line(&c, line, sizeof line));
    assert_string_equal(line, "0");
    assert_true(client_line(&c, line, sizeof line));
    assert_string_equal(body.data, "data: 0\n\ndata: 1\n\n");
    buf_deinit(&body);
    response_deinit(&r);
    assert_true(wait_until(&n_closed[HTTP_CLOSE_DONE], 1, 1000));

    /* and the kept-alive connection is then closed for idling again */
    t0 = now_ms();
    assert_true(recv(c.fd, tmp, sizeof tmp, 0) <= 0);
    assert_true(now_ms() - t0 < 3000);
    client_close(&c);
    http_server_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_preflight),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_api_keys),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_does_not_spin),
        cmocka_unit_test(test_stream_client_gone),
        cmocka_unit_test(test_slow_client_gone),
        cmocka_unit_test(test_keep_alive_and_pipelining),
        cmocka_unit_test(test_concurrent_connections),
        cmocka_unit_test(test_busy_port),
        cmocka_unit_test(test_other_hosts),
        cmocka_unit_test(test_destroy_with_open_stream),
        cmocka_unit_test(test_read_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
