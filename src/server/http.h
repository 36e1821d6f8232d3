/* http.h — the HTTP layer under the OpenAI endpoints: routes, API keys, bodies, responses, SSE.
 *
 * A thin layer over libmicrohttpd in thread-per-connection mode: every connection has its own
 * thread, so a handler may block (waiting for the engine) without stalling anyone else, and
 * handlers run concurrently. The layer owns what every endpoint would otherwise repeat:
 *
 *   routing      exact paths, or prefixes ending in '*'; unknown path -> 404, known path with
 *                another method -> 405 with Allow; OPTIONS -> CORS preflight (204)
 *   auth         "Authorization: Bearer KEY" against cfg->api_keys on non-public routes, compared
 *                in constant time -> 401 in OpenAI's shape
 *   bodies       buffered up to cfg->max_body_bytes -> 413 beyond, without buffering more
 *   responses    one per exchange: bytes, JSON, an OpenAI error body, or a stream (SSE) pulled
 *                from a source whose close callback says how it ended (done, client gone,
 *                server shutting down)
 *   logging      one access-log line per request through base/log.h unless cfg->quiet
 *
 *   limits       a connection opened over cfg->max_connections gets 503 (Retry-After, then
 *                closed) for its request; libmicrohttpd refuses outright only past a headroom
 *                above that (a quarter more, at least 64)
 *   CORS         Access-Control-Allow-Origin only for cfg->allowed_origins
 *
 * Keep-alive, pipelining, header limits (431) and chunked transfer are libmicrohttpd's.
 */
#ifndef GPTOSS_SERVER_HTTP_H
#define GPTOSS_SERVER_HTTP_H

#include "base/base.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_exchange; /* one request and its response; lives on its connection's thread */

struct http_config {
    const char *host;            /* address or name to listen on: "127.0.0.1", "0.0.0.0", "::" */
    uint16_t port;               /* 0: an ephemeral port (see http_server_port) */
    unsigned max_connections;    /* open connections served; more get 503; 0: no limit */
    unsigned read_timeout_s;     /* idle seconds before a connection that is sending nothing (or
                                    not reading a response) is closed; 0: never */
    size_t max_body_bytes;       /* larger request bodies get 413 */
    const char *const *api_keys; /* accepted bearer keys; n_api_keys == 0: no authentication */
    size_t n_api_keys;
    /* Origins whose pages may call the API from a browser (CORS): exact "scheme://host[:port]"
     * strings, or "*" for any. None: same origin only (no Access-Control-Allow-Origin). */
    const char *const *allowed_origins;
    size_t n_allowed_origins;
    bool quiet; /* no access log */
};

/* Defaults: 127.0.0.1:8000, 512 connections, 30 s read timeout, 32 MiB bodies, no keys, logged. */
void http_config_init(struct http_config *cfg);

/* A route. `path` matches exactly, or, when it ends with '*', any path starting with what comes
 * before the '*'. Several routes may share a path with different methods; a GET route also
 * answers HEAD (without the body). The first matching route wins. A public route needs
 * no API key. The handler must answer with exactly one http_respond* call before it returns, on
 * its own thread (a handler that answers nothing gets a 500). */
struct http_route {
    const char *method; /* "GET", "POST", ... */
    const char *path;
    void (*handler)(void *ctx, struct http_exchange *ex);
    bool public_;
};

/* Starts listening on cfg->host:cfg->port and serving `routes` with `ctx` as every handler's
 * first argument. The routes array and its strings are borrowed and must outlive the server;
 * cfg is copied (api_keys included). The host is resolved with getaddrinfo (IPv4 or IPv6; the
 * first address that binds wins). A port that cannot be bound fails with
 * GPTOSS_ERR_IO ("cannot listen on 127.0.0.1:8000: Address already in use"). On success stores
 * the server in *server_out; on failure stores NULL. */
enum gptoss_status http_server_create(const struct http_config *cfg,
                                      const struct http_route *routes, size_t n_routes, void *ctx,
                                      struct http_server **server_out);

/* The port the server listens on (the ephemeral one chosen when cfg->port was 0). */
uint16_t http_server_port(const struct http_server *server);

/* Stops accepting, ends every open exchange and returns once all connection threads are gone:
 * http_exchange_client_gone() turns true for blocked handlers, and open streams are closed with
 * HTTP_CLOSE_SHUTDOWN within about one source read (~100 ms). Must not be called from a
 * handler. NULL is a no-op. */
void http_server_destroy(struct http_server *server);

/* ---- The request ---------------------------------------------------------------------------
 * Strings returned here are borrowed and valid until the handler returns. */

const char *http_exchange_method(const struct http_exchange *ex);

/* The path without the query string, percent-decoded ("/v1/models"). */
const char *http_exchange_path(const struct http_exchange *ex);

/* The decoded value of query argument `name`, "" for a name without a value, NULL if absent. */
const char *http_exchange_query(const struct http_exchange *ex, const char *name);

/* The value of request header `name` (case-insensitive), NULL if absent. */
const char *http_exchange_header(const struct http_exchange *ex, const char *name);

/* The request body, NUL-terminated (so JSON text can be parsed in place); "" when empty. Stores
 * its length in *len_out when len_out is not NULL. */
const char *http_exchange_body(const struct http_exchange *ex, size_t *len_out);

/* True once the client has closed or reset its connection, or the server is shutting down. A
 * handler that blocks on a long non-streamed result polls this every ~100 ms and gives up when
 * it turns true (it must still respond; the response is then discarded). Any thread may ask
 * while the handler runs. */
bool http_exchange_client_gone(struct http_exchange *ex);

/* ---- The response: each handler calls exactly one of these --------------------------------- */

/* Sends `len` bytes of `data` (copied) with `status` and `content_type`. */
void http_respond(struct http_exchange *ex, int status, const char *content_type, const void *data,
                  size_t len);

/* Like http_respond, with extra response headers: `headers` holds name, value, name, value, ...
 * and ends with NULL (NULL alone: none). */
void http_respond_headers(struct http_exchange *ex, int status, const char *content_type,
                          const void *data, size_t len, const char *const *headers);

/* Sends `body` as compact JSON (application/json). Takes ownership of `body` (json_decref). */
void http_respond_json(struct http_exchange *ex, int status, json_t *body);

/* Sends OpenAI's error body {"error":{"message","type","param","code"}}; NULL param or code
 * become JSON null. */
void http_respond_error(struct http_exchange *ex, int status, const char *type, const char *message,
                        const char *param, const char *code);

/* How a stream ended, passed to its source's close callback. */
enum http_close {
    HTTP_CLOSE_DONE,        /* the source returned -1: everything was handed over */
    HTTP_CLOSE_CLIENT_GONE, /* the client disconnected (or could not be written to) first */
    HTTP_CLOSE_SHUTDOWN,    /* http_server_destroy() ended the stream */
};

/* An incremental response body, pulled on the connection's thread.
 *
 * read   copies up to `max` bytes into `buf`. It may block for up to ~100 ms waiting for data;
 *        returns the number of bytes (> 0), 0 when nothing arrived yet (it is called again, and
 *        the layer checks the client and shutdown in between), or -1 at the end of the stream.
 * close  is called exactly once, after the last read, with how the stream ended; afterwards
 *        read is never called again and `user` may be freed. It runs on the connection's thread
 *        (possibly before http_respond_stream returns, when the client is already gone).
 */
struct http_stream_source {
    long (*read)(void *user, char *buf, size_t max);
    void (*close)(void *user, enum http_close reason);
    void *user;
};

/* Sends `status` with a body pulled from `src` (copied) in chunked transfer encoding. A
 * content_type of "text/event-stream" (Server-Sent Events) also gets Cache-Control: no-cache and
 * X-Accel-Buffering: no. Ownership of the source passes to the layer: its close callback is
 * called exactly once even if the stream never starts (the client left before the headers). */
void http_respond_stream(struct http_exchange *ex, int status, const char *content_type,
                         const struct http_stream_source *src);

#endif
