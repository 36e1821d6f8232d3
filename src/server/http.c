/* http.c — routes, API keys, bodies and responses over libmicrohttpd (see http.h).
 *
 * libmicrohttpd (0.9.75) runs one thread per connection and calls http_on_request() several
 * times per request: once when the headers are in (the exchange is created and judged: route,
 * method, key), once per piece of body (buffered up to the limit, or counted and dropped), and
 * once more with nothing (the handler runs, or the verdict is answered). http_on_completed()
 * ends every exchange that was created, whatever happened, and writes the access-log line.
 *
 * Streams: libmicrohttpd pulls a body through a "content reader" callback. In thread-per-
 * connection mode a reader that returns 0 ("nothing yet") makes the connection thread spin,
 * because the thread never sleeps on anything that would wake it when data arrives. So
 * stream_read() never returns 0: it loops inside the callback over (shutdown? client gone? read
 * the source, which waits up to ~100 ms) until it has bytes or the end, and a source that
 * returns 0 at once is paced so the loop never spins. The source's close callback runs from the
 * response's free callback, which libmicrohttpd calls exactly once on every path (finished,
 * aborted, never started); the reason is what the reader saw last.
 *
 * Timeouts: the connection timeout (cfg->read_timeout_s) guards slow clients, but
 * libmicrohttpd measures it from the last socket activity and checks it after callbacks return,
 * so a handler or a stream read that blocks longer than the timeout would get its connection
 * dropped afterwards. The timeout is therefore switched off while our code blocks (from the
 * handler's call to its response; inside each stream read) and back on whenever libmicrohttpd
 * is waiting on the client — switching it on restarts the clock.
 */
#include "http.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per-connection memory of libmicrohttpd: request headers must fit in about half of it. */
#define HTTP_CONNECTION_MEMORY (64 * 1024)
/* A source read that returns 0 sooner than this is followed by a sleep for the rest. */
#define HTTP_STREAM_MIN_WAIT_NS (10 * 1000 * 1000L)

struct http_server {
    struct MHD_Daemon *daemon;
    const struct http_route *routes; /* borrowed */
    size_t n_routes;
    void *ctx;
    char **api_keys;
    size_t *api_key_lens;
    size_t n_api_keys;
    char **origins; /* allowed CORS origins, "*" for any */
    size_t n_origins;
    size_t max_body_bytes;
    unsigned read_timeout_s;
    unsigned max_connections;  /* 0: no limit of ours */
    atomic_uint n_connections; /* open now, counted from libmicrohttpd's notifications */
    bool quiet;
    uint16_t port;
    atomic_bool stopping; /* set before the daemon stops; ends blocked handlers and streams */
};

/* The socket context of a connection opened over max_connections. */
static char http_over_limit_mark;
#define HTTP_OVER_LIMIT ((void *)&http_over_limit_mark)

/* What the headers alone decided about a request. */
enum http_verdict {
    HTTP_VERDICT_RUN,        /* call the route's handler */
    HTTP_VERDICT_PREFLIGHT,  /* OPTIONS on a known path */
    HTTP_VERDICT_NOT_FOUND,  /* no route has this path */
    HTTP_VERDICT_BAD_METHOD, /* routes have this path, none this method */
    HTTP_VERDICT_NO_KEY,     /* keys are configured and the request carries none */
    HTTP_VERDICT_BAD_KEY,    /* the request's key is not one of them */
    HTTP_VERDICT_BUSY,       /* the connection came over --max-connections */
};

struct http_exchange {
    struct http_server *server;
    struct MHD_Connection *conn;
    const char *method; /* libmicrohttpd's, valid until http_on_completed */
    const char *path;
    int fd; /* the connection's socket, only ever peeked at */
    enum http_verdict verdict;
    const struct http_route *route; /* the matched route when verdict is RUN */
    struct buf body;
    uint64_t n_uploaded; /* body bytes received, kept or dropped */
    bool too_large;
    bool responded; /* an http_respond* call happened */
    bool queued;    /* libmicrohttpd took the response */
    bool streaming;
    bool close_after; /* answer with "Connection: close" */
    int status;
    uint64_t n_bytes_out; /* body bytes handed to libmicrohttpd */
    struct timespec t_start;
};

/* A stream response's state. It lives as long as libmicrohttpd's response object, which may
 * outlive the exchange (on an aborted connection the exchange is completed first), so `ex` is
 * used only inside stream_read(), which never runs after completion. */
struct http_stream {
    struct http_server *server;
    struct http_exchange *ex;
    struct http_stream_source src;
    int fd;
    int reason; /* enum http_close once known, -1 before */
};

/* ---- Small helpers ------------------------------------------------------------------------- */

static double http_elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* True when the peer has closed or reset the socket. Peeking one byte without waiting: data
 * waiting (a pipelined request) or nothing yet both mean the client is still there; end of file
 * or an error other than "would block" means it is gone. */
static bool http_socket_closed(int fd)
{
    if (fd < 0)
        return true;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return false;
    if (n == 0)
        return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Compares a presented key with a configured one in time that depends only on the configured
 * key's length: every byte of `key` is compared (the presented key padded with zeros), and a
 * length mismatch is folded into the same accumulator instead of returning early. */
static bool http_key_equal(const char *given, size_t n_given, const char *key, size_t n_key)
{
    volatile unsigned char diff = (unsigned char)(n_given != n_key);
    for (size_t i = 0; i < n_key; i++) {
        unsigned char g = i < n_given ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)key[i]);
    }
    return diff == 0;
}

/* Turns libmicrohttpd's connection timeout off (while our code blocks) or back on (which also
 * restarts its clock). */
static void http_exchange_timeout(struct http_exchange *ex, bool on)
{
    if (ex->server->read_timeout_s == 0)
        return;
    MHD_set_connection_option(ex->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              on ? ex->server->read_timeout_s : 0u);
}

/* ---- Responses ----------------------------------------------------------------------------- */

/* Access-Control-Allow-Origin for a request from an allowed origin: "*" when any is allowed,
 * else the request's own Origin (with Vary: Origin, since the answer depends on it). Nothing
 * otherwise, so that browsers keep other sites' pages out. */
static void http_add_cors(const struct http_exchange *ex, struct MHD_Response *resp)
{
    const struct http_server *s = ex->server;
    if (s->n_origins == 0)
        return;
    const char *origin = http_exchange_header(ex, "Origin");
    for (size_t i = 0; i < s->n_origins; i++) {
        if (strcmp(s->origins[i], "*") == 0) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
            return;
        }
        if (origin != NULL && strcmp(origin, s->origins[i]) == 0) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(resp, "Vary", "Origin");
            return;
        }
    }
}

/* Hands `resp` to libmicrohttpd as the exchange's one response (NULL: allocation failed, and
 * nothing is queued, so the connection is closed). */
static void http_queue(struct http_exchange *ex, int status, struct MHD_Response *resp,
                       uint64_t n_body)
{
    ex->status = status;
    if (resp == NULL)
        return;
    http_add_cors(ex, resp);
    if (ex->close_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (MHD_queue_response(ex->conn, (unsigned)status, resp) == MHD_YES) {
        ex->queued = true;
        ex->n_bytes_out += n_body;
    } else {
        log_debug("http: %s %s: the response could not be queued", ex->method, ex->path);
    }
    MHD_destroy_response(resp); /* the connection holds its own reference */
}

static void http_begin_response(struct http_exchange *ex)
{
    GPTOSS_ASSERT(!ex->responded); /* one response per exchange */
    ex->responded = true;
}

void http_respond_headers(struct http_exchange *ex, int status, const char *content_type,
                          const void *data, size_t len, const char *const *headers)
{
    http_begin_response(ex);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp != NULL && content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; resp != NULL && headers != NULL && headers[i] != NULL; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    http_queue(ex, status, resp, len);
}

void http_respond(struct http_exchange *ex, int status, const char *content_type, const void *data,
                  size_t len)
{
    http_respond_headers(ex, status, content_type, data, len, NULL);
}

/* Sends `body` as compact JSON, with an Allow header when `allow` is not NULL (405). */
static void http_send_json(struct http_exchange *ex, int status, json_t *body, const char *allow)
{
    http_begin_response(ex);
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (text == NULL) {
        static const char failed[] = "{\"error\":{\"message\":\"The response could not be "
                                     "encoded.\",\"type\":\"server_error\",\"param\":null,"
                                     "\"code\":null}}";
        status = 500;
        text = xstrdup(failed);
    }
    size_t len = strlen(text);
    /* MUST_FREE: libmicrohttpd free()s the text with the response (jansson allocates with
     * malloc unless told otherwise, and nothing here tells it otherwise). */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (allow != NULL)
            MHD_add_response_header(resp, "Allow", allow);
        /* 503 is always temporary here (loading, a full queue): say when to come back. */
        if (status == 503)
            MHD_add_response_header(resp, "Retry-After", "1");
    }
    http_queue(ex, status, resp, len);
}

void http_respond_json(struct http_exchange *ex, int status, json_t *body)
{
    http_send_json(ex, status, body, /*allow=*/NULL);
}

/* A JSON string for `s`, NULL giving null. Bytes that are not UTF-8 (a client's path quoted in
 * a message) become U+FFFD instead of making the string vanish. */
static json_t *http_json_text(const char *s)
{
    if (s == NULL)
        return json_null();
    size_t n = strlen(s);
    if (utf8_is_valid((const unsigned char *)s, n))
        return json_stringn(s, n);
    struct buf b;
    buf_init(&b);
    utf8_append_lossy(&b, (const unsigned char *)s, n);
    json_t *v = json_stringn(b.data, b.len);
    buf_deinit(&b);
    return v;
}

static json_t *http_error_body(const char *type, const char *message, const char *param,
                               const char *code)
{
    json_t *err = json_object();
    json_object_set_new(err, "message", http_json_text(message));
    json_object_set_new(err, "type", http_json_text(type));
    json_object_set_new(err, "param", http_json_text(param));
    json_object_set_new(err, "code", http_json_text(code));
    json_t *body = json_object();
    json_object_set_new(body, "error", err);
    return body;
}

void http_respond_error(struct http_exchange *ex, int status, const char *type, const char *message,
                        const char *param, const char *code)
{
    http_send_json(ex, status, http_error_body(type, message, param, code), /*allow=*/NULL);
}

/* libmicrohttpd's content reader for a stream: blocks until the source yields bytes or ends, or
 * until the client or the server goes away (see the top of the file for why it never returns
 * 0). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    (void)pos;
    http_exchange_timeout(st->ex, /*on=*/false);
    for (;;) {
        if (atomic_load(&st->server->stopping)) {
            st->reason = HTTP_CLOSE_SHUTDOWN;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (http_socket_closed(st->fd)) {
            st->reason = HTTP_CLOSE_CLIENT_GONE;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long n = st->src.read(st->src.user, buf, max);
        if (n > 0) {
            GPTOSS_ASSERT((size_t)n <= max);
            st->ex->n_bytes_out += (uint64_t)n;
            http_exchange_timeout(st->ex, /*on=*/true);
            return (ssize_t)n;
        }
        if (n < 0) {
            st->reason = HTTP_CLOSE_DONE;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        /* Nothing yet. A source that did not wait must not turn this loop into a spin. */
        double waited_ms = http_elapsed_ms(&t0);
        if (waited_ms * 1e6 < (double)HTTP_STREAM_MIN_WAIT_NS) {
            struct timespec pause = {0, HTTP_STREAM_MIN_WAIT_NS - (long)(waited_ms * 1e6)};
            nanosleep(&pause, NULL);
        }
    }
}

/* libmicrohttpd's free callback for a stream response: the one place the source is closed. */
static void stream_free(void *cls)
{
    struct http_stream *st = cls;
    enum http_close reason;
    if (st->reason >= 0)
        reason = (enum http_close)st->reason;
    else if (atomic_load(&st->server->stopping))
        reason = HTTP_CLOSE_SHUTDOWN;
    else
        reason = HTTP_CLOSE_CLIENT_GONE; /* the connection died before or between reads */
    st->src.close(st->src.user, reason);
    free(st);
}

void http_respond_stream(struct http_exchange *ex, int status, const char *content_type,
                         const struct http_stream_source *src)
{
    http_begin_response(ex);
    struct http_stream *st = xcalloc(1, sizeof *st);
    st->server = ex->server;
    st->ex = ex;
    st->src = *src;
    st->fd = ex->fd;
    /* A HEAD response has no body, so the reader is never called: the stream is complete. */
    st->reason = strcmp(ex->method, "HEAD") == 0 ? HTTP_CLOSE_DONE : -1;
    ex->streaming = true;
    /* Unknown size: libmicrohttpd sends HTTP/1.1 responses chunked (and closes HTTP/1.0 ones). */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  stream_read, st, stream_free);
    if (resp == NULL) {
        stream_free(st);
        http_queue(ex, status, NULL, 0);
        return;
    }
    if (content_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (strncasecmp(content_type, "text/event-stream", 17) == 0) {
            /* No "Connection: keep-alive": libmicrohttpd owns that header (it refuses the
             * keep-alive token) and HTTP/1.1 connections persist anyway. */
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
            MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        }
    }
    http_queue(ex, status, resp, 0);
}

/* ---- Requests ------------------------------------------------------------------------------ */

static bool http_route_matches_path(const struct http_route *r, const char *path)
{
    size_t n = strlen(r->path);
    if (n > 0 && r->path[n - 1] == '*')
        return strncmp(path, r->path, n - 1) == 0;
    return strcmp(path, r->path) == 0;
}

/* The methods of the routes for `path`, as "GET, POST, OPTIONS", into buf. */
static void http_allowed_methods(const struct http_server *s, const char *path, char *buf,
                                 size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct http_route *r = &s->routes[i];
        if (!http_route_matches_path(r, path))
            continue;
        int n = snprintf(buf + len, size - len, "%s, ", r->method);
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
    snprintf(buf + len, size - len, "OPTIONS");
}

/* Whether the request carries one of the configured keys ("Authorization: Bearer KEY"). Every
 * key is compared, so the time taken does not say which one came close. */
static enum http_verdict http_check_key(const struct http_exchange *ex)
{
    const struct http_server *s = ex->server;
    const char *auth = http_exchange_header(ex, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth == NULL)
        return HTTP_VERDICT_NO_KEY;
    while (*auth == ' ')
        auth++;
    if (strncasecmp(auth, "Bearer ", 7) != 0)
        return HTTP_VERDICT_BAD_KEY;
    const char *key = auth + 7;
    while (*key == ' ')
        key++;
    size_t n = strlen(key);
    while (n > 0 && key[n - 1] == ' ')
        n--;
    bool ok = false;
    for (size_t i = 0; i < s->n_api_keys; i++)
        ok |= http_key_equal(key, n, s->api_keys[i], s->api_key_lens[i]);
    return ok ? HTTP_VERDICT_RUN : HTTP_VERDICT_BAD_KEY;
}

/* Decides from the request line and headers what the request will get. */
static enum http_verdict http_judge(struct http_exchange *ex)
{
    const struct http_server *s = ex->server;
    bool path_known = false;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct http_route *r = &s->routes[i];
        if (!http_route_matches_path(r, ex->path))
            continue;
        path_known = true;
        /* HEAD is served by the GET route; libmicrohttpd leaves the body out */
        if (strcmp(r->method, ex->method) == 0 ||
            (strcmp(ex->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            ex->route = r;
            break;
        }
    }
    if (!path_known)
        return HTTP_VERDICT_NOT_FOUND;
    if (ex->route == NULL)
        return strcmp(ex->method, "OPTIONS") == 0 ? HTTP_VERDICT_PREFLIGHT
                                                  : HTTP_VERDICT_BAD_METHOD;
    if (ex->route->public_ || s->n_api_keys == 0)
        return HTTP_VERDICT_RUN;
    return http_check_key(ex);
}

/* A CORS preflight: 204 with what a browser needs to send the real request. The requested
 * headers are echoed when they look like a header list, because browser SDKs add their own
 * (x-stainless-*), and "*" does not cover Authorization. */
static void http_respond_preflight(struct http_exchange *ex)
{
    char methods[256];
    http_allowed_methods(ex->server, ex->path, methods, sizeof methods);
    const char *want = http_exchange_header(ex, "Access-Control-Request-Headers");
    const char *headers = "Authorization, Content-Type";
    if (want != NULL && want[0] != '\0' && strlen(want) < 1024 &&
        strspn(want, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_, ") ==
            strlen(want))
        headers = want;
    http_begin_response(ex);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp != NULL) {
        MHD_add_response_header(resp, "Allow", methods);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", headers);
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    }
    http_queue(ex, 204, resp, 0);
}

/* Answers a request whose verdict is not RUN, or whose body was too large. */
static void http_respond_refusal(struct http_exchange *ex)
{
    char msg[512];
    if (ex->too_large) {
        snprintf(msg, sizeof msg, "Request body is too large (the limit is %zu bytes).",
                 ex->server->max_body_bytes);
        http_respond_error(ex, 413, "invalid_request_error", msg, NULL, NULL);
        return;
    }
    switch (ex->verdict) {
    case HTTP_VERDICT_RUN: GPTOSS_ASSERT(!"a runnable request is not a refusal"); break;
    case HTTP_VERDICT_PREFLIGHT: http_respond_preflight(ex); break;
    case HTTP_VERDICT_NOT_FOUND:
        snprintf(msg, sizeof msg, "Invalid URL (%s %s)", ex->method, ex->path);
        http_respond_error(ex, 404, "invalid_request_error", msg, NULL, NULL);
        break;
    case HTTP_VERDICT_BAD_METHOD: {
        char methods[256];
        http_allowed_methods(ex->server, ex->path, methods, sizeof methods);
        snprintf(msg, sizeof msg, "Method %s is not allowed for %s (allowed: %s)", ex->method,
                 ex->path, methods);
        http_send_json(ex, 405, http_error_body("invalid_request_error", msg, NULL, NULL), methods);
        break;
    }
    case HTTP_VERDICT_NO_KEY:
        http_respond_error(ex, 401, "invalid_request_error",
                           "You didn't provide an API key. You need to provide your API key in an "
                           "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                           "YOUR_KEY).",
                           NULL, NULL);
        break;
    case HTTP_VERDICT_BAD_KEY:
        http_respond_error(ex, 401, "invalid_request_error", "Incorrect API key provided.", NULL,
                           "invalid_api_key");
        break;
    case HTTP_VERDICT_BUSY:
        snprintf(msg, sizeof msg,
                 "The server has too many open connections (the limit is %u); retry later.",
                 ex->server->max_connections);
        ex->close_after = true;
        http_respond_error(ex, 503, "server_error", msg, NULL, NULL);
        break;
    }
}

/* The declared body length, or 0 when there is none (or it is chunked). */
static uint64_t http_content_length(const struct http_exchange *ex)
{
    const char *v = http_exchange_header(ex, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v == NULL)
        return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    return end != v ? (uint64_t)n : 0;
}

/* Keeps a piece of the body, or counts and drops it once the body is over the limit or the
 * request is refused anyway. Returns false when the client has sent so much more than the limit
 * that reading on is pointless (the connection is then closed). */
static bool http_take_body(struct http_exchange *ex, const char *data, size_t n)
{
    ex->n_uploaded += n;
    if (ex->n_uploaded > ex->server->max_body_bytes) {
        ex->too_large = true;
        buf_deinit(&ex->body);
        return ex->n_uploaded <= 2 * (uint64_t)ex->server->max_body_bytes + (1u << 20);
    }
    if (ex->verdict == HTTP_VERDICT_RUN)
        buf_append(&ex->body, data, n);
    return true;
}

/* Runs the route's handler with the connection timeout off (it may block for long), and makes
 * sure something is answered. */
static void http_dispatch(struct http_exchange *ex)
{
    http_exchange_timeout(ex, /*on=*/false);
    ex->route->handler(ex->server->ctx, ex);
    if (!ex->responded) {
        log_error("http: %s %s: the handler sent no response", ex->method, ex->path);
        http_respond_error(ex, 500, "server_error", "The server produced no response.", NULL, NULL);
    }
    if (!ex->streaming)
        http_exchange_timeout(ex, /*on=*/true);
}

static struct http_exchange *http_exchange_create(struct http_server *s,
                                                  struct MHD_Connection *conn, const char *method,
                                                  const char *url)
{
    struct http_exchange *ex = xcalloc(1, sizeof *ex);
    clock_gettime(CLOCK_MONOTONIC, &ex->t_start);
    ex->server = s;
    ex->conn = conn;
    ex->method = method;
    ex->path = url;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    ex->fd = info != NULL ? info->connect_fd : -1;
    buf_init(&ex->body);
    return ex;
}

/* libmicrohttpd's access handler; see the top of the file for the three kinds of call. Returning
 * MHD_NO closes the connection. */
static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_cls)
{
    struct http_server *s = cls;
    struct http_exchange *ex = *req_cls;
    (void)version;
    if (ex == NULL) {
        ex = http_exchange_create(s, conn, method, url);
        *req_cls = ex;
        const union MHD_ConnectionInfo *sc =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        ex->verdict = sc != NULL && sc->socket_context == HTTP_OVER_LIMIT ? HTTP_VERDICT_BUSY
                                                                          : http_judge(ex);
        /* A declared body over the limit is refused before it is read (libmicrohttpd then
         * drops the body and closes the connection after the answer). */
        if (http_content_length(ex) > s->max_body_bytes) {
            if (ex->verdict == HTTP_VERDICT_RUN || ex->verdict == HTTP_VERDICT_PREFLIGHT)
                ex->too_large = true;
            http_respond_refusal(ex);
            return ex->queued ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (ex->responded) { /* answered early: nothing more to do */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        bool go_on = http_take_body(ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }
    if (ex->verdict == HTTP_VERDICT_RUN && !ex->too_large)
        http_dispatch(ex);
    else
        http_respond_refusal(ex);
    return ex->queued ? MHD_YES : MHD_NO;
}

/* libmicrohttpd's completion callback: called once for every exchange created, however the
 * request ended. Logs it and frees it. */
static void http_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_exchange *ex = *req_cls;
    (void)conn;
    if (ex == NULL)
        return;
    *req_cls = NULL;
    if (!s->quiet) {
        const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                          : atomic_load(&s->stopping)                ? " (server stopping)"
                                                                     : " (aborted)";
        log_info("%s %s %d %" PRIu64 "B %.1fms%s", ex->method, ex->path, ex->status,
                 ex->n_bytes_out, http_elapsed_ms(&ex->t_start), how);
    }
    /* A stream keeps the timeout off between reads; the connection now waits for the next
     * request again. (On other outcomes the connection is closing.) */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && ex->streaming)
        http_exchange_timeout(ex, /*on=*/true);
    buf_deinit(&ex->body);
    free(ex);
}

/* libmicrohttpd's connection notifications: counts open connections, and marks one that comes
 * over max_connections so that its request is answered 503 (and the connection closed) rather
 * than the connection refused without a word. libmicrohttpd's own limit sits above ours and
 * only refuses outright past that (see http_server_create). */
static void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                               enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        unsigned n = atomic_fetch_add(&s->n_connections, 1) + 1;
        *socket_context = s->max_connections > 0 && n > s->max_connections ? HTTP_OVER_LIMIT : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&s->n_connections, 1);
    }
}

static void http_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("http: libmicrohttpd: %s", line);
}

/* ---- Request accessors --------------------------------------------------------------------- */

const char *http_exchange_method(const struct http_exchange *ex)
{
    return ex->method;
}

const char *http_exchange_path(const struct http_exchange *ex)
{
    return ex->path;
}

const char *http_exchange_query(const struct http_exchange *ex, const char *name)
{
    const char *v = MHD_lookup_connection_value(ex->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v != NULL)
        return v;
    /* "?name" without '=' is stored with a NULL value; report it as present but empty */
    return MHD_lookup_connection_value_n(ex->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
                                         NULL) == MHD_YES
               ? ""
               : NULL;
}

const char *http_exchange_header(const struct http_exchange *ex, const char *name)
{
    return MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, name);
}

const char *http_exchange_body(const struct http_exchange *ex, size_t *len_out)
{
    if (len_out != NULL)
        *len_out = ex->body.len;
    return ex->body.data != NULL ? ex->body.data : "";
}

bool http_exchange_client_gone(struct http_exchange *ex)
{
    return atomic_load(&ex->server->stopping) || http_socket_closed(ex->fd);
}

/* ---- The server ---------------------------------------------------------------------------- */

void http_config_init(struct http_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8000;
    cfg->max_connections = 512;
    cfg->read_timeout_s = 30;
    cfg->max_body_bytes = 32u << 20;
}

/* Opens a listening socket on host:port, trying each address getaddrinfo gives until one binds.
 * Stores the socket, its address family and the bound port. */
static enum gptoss_status http_listen(const char *host, uint16_t port, int *fd_out, int *family_out,
                                      uint16_t *port_out)
{
    char where[300];
    snprintf(where, sizeof where, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return error_set(GPTOSS_ERR_IO, "cannot listen on %s: %s", where, gai_strerror(rc));
    int err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6) {
            /* "::" serves IPv4 too, whatever the system default for new sockets is */
            const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ai->ai_addr;
            int v6only = !IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
                *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                           : ((struct sockaddr_in *)&ss)->sin_port);
                *fd_out = fd;
                *family_out = ai->ai_family;
                freeaddrinfo(res);
                return GPTOSS_OK;
            }
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return error_set(GPTOSS_ERR_IO, "cannot listen on %s: %s", where, strerror(err));
}

static void http_server_free(struct http_server *s)
{
    for (size_t i = 0; i < s->n_api_keys; i++)
        free(s->api_keys[i]);
    free(s->api_keys);
    for (size_t i = 0; i < s->n_origins; i++)
        free(s->origins[i]);
    free(s->origins);
    free(s->api_key_lens);
    free(s);
}

enum gptoss_status http_server_create(const struct http_config *cfg,
                                      const struct http_route *routes, size_t n_routes, void *ctx,
                                      struct http_server **server_out)
{
    *server_out = NULL;
    struct http_server *s = xcalloc(1, sizeof *s);
    s->routes = routes;
    s->n_routes = n_routes;
    s->ctx = ctx;
    s->max_body_bytes = cfg->max_body_bytes;
    s->read_timeout_s = cfg->read_timeout_s;
    s->quiet = cfg->quiet;
    s->max_connections = cfg->max_connections;
    atomic_init(&s->n_connections, 0);
    atomic_init(&s->stopping, false);
    if (cfg->n_api_keys > 0) {
        s->api_keys = xcalloc(cfg->n_api_keys, sizeof *s->api_keys);
        s->api_key_lens = xcalloc(cfg->n_api_keys, sizeof *s->api_key_lens);
        for (size_t i = 0; i < cfg->n_api_keys; i++) {
            s->api_keys[i] = xstrdup(cfg->api_keys[i]);
            s->api_key_lens[i] = strlen(cfg->api_keys[i]);
        }
        s->n_api_keys = cfg->n_api_keys;
    }
    if (cfg->n_allowed_origins > 0) {
        s->origins = xcalloc(cfg->n_allowed_origins, sizeof *s->origins);
        for (size_t i = 0; i < cfg->n_allowed_origins; i++)
            s->origins[i] = xstrdup(cfg->allowed_origins[i]);
        s->n_origins = cfg->n_allowed_origins;
    }

    int fd = -1, family = AF_INET;
    enum gptoss_status st =
        http_listen(cfg->host != NULL ? cfg->host : "127.0.0.1", cfg->port, &fd, &family, &s->port);
    if (st != GPTOSS_OK)
        goto fail;

    /* Options that mean "libmicrohttpd's default" when 0 go through an array. */
    struct MHD_OptionItem opts[3];
    size_t n_opts = 0;
    /* Connections over max_connections still get a thread for long enough to be told 503;
     * libmicrohttpd refuses outright only past this headroom, which bounds those threads. */
    if (cfg->max_connections > 0) {
        unsigned headroom = cfg->max_connections / 4 > 64 ? cfg->max_connections / 4 : 64;
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                                 (intptr_t)(cfg->max_connections + headroom), NULL};
    }
    if (cfg->read_timeout_s > 0)
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                                 (intptr_t)cfg->read_timeout_s, NULL};
    opts[n_opts] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, /*port=*/0, /*apc=*/NULL, /*apc_cls=*/NULL, http_on_request, s,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, s, MHD_OPTION_EXTERNAL_LOGGER,
        http_on_mhd_log, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (s->daemon == NULL) {
        /* libmicrohttpd closes the socket on most of its failure paths, so it is not closed
         * here: a leaked descriptor on a start-up failure beats closing someone else's. */
        st = error_set(GPTOSS_ERR_INTERNAL, "cannot start the HTTP server on %s:%u",
                       cfg->host != NULL ? cfg->host : "127.0.0.1", (unsigned)s->port);
        goto fail;
    }
    *server_out = s;
    return GPTOSS_OK;

fail:
    http_server_free(s);
    return st;
}

uint16_t http_server_port(const struct http_server *server)
{
    return server->port;
}

void http_server_destroy(struct http_server *server)
{
    if (server == NULL)
        return;
    /* First tell blocked handlers and streams to finish, then let libmicrohttpd shut the
     * sockets and join every connection thread (and close the listening socket). */
    atomic_store(&server->stopping, true);
    MHD_stop_daemon(server->daemon);
    http_server_free(server);
}
