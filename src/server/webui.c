/* webui.c — serves the embedded web UI (see webui.h): the asset for a path, its caching and
 * security headers, and the --webui-dir override used while working on the UI.
 */
#include "server/webui.h"

#include "base/error.h"
#include "base/file.h"
#include "server/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scripts, styles and connections from this origin only: even if sanitising failed, a reply
 * could neither run script nor send the conversation anywhere. Inline styles are allowed for
 * the widths of progress bars. */
#define WEBUI_CSP                                                                                  \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "     \
    "data: blob:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri "        \
    "'none'; form-action 'self'; frame-ancestors 'none'"

/* Files above this size in a --webui-dir are refused (the UI's own files are far smaller). */
#define WEBUI_DIR_MAX_FILE (16u << 20)

static const struct webui_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < webui_n_assets; i++)
        if (strcmp(webui_assets[i].path, path) == 0)
            return &webui_assets[i];
    return NULL;
}

static bool etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    if (strcmp(if_none_match, "*") == 0)
        return true;
    /* A list of tags, possibly weak ("W/\"...\""); any match will do. */
    size_t n = strlen(etag);
    for (const char *p = strstr(if_none_match, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return true;
    }
    return false;
}

void webui_serve(struct http_exchange *ex, const char *dir)
{
    const struct webui_asset *a = find_asset(http_exchange_path(ex));
    if (!a) {
        http_respond_error(ex, 404, "invalid_request_error", "no such page", NULL, NULL);
        return;
    }
    bool from_dir = dir && strncmp(a->path, "/vendor/", 8) != 0;
    /* Embedded files: no-cache, so the browser keeps them but asks each time (a new binary's UI
     * is never mixed with an old one's) and the ETag makes the question a cheap 304. Files read
     * from a --webui-dir change under the server: no-store, and no ETag (the list ends early). */
    const char *const headers[] = {"Cache-Control",
                                   from_dir ? "no-store" : "no-cache",
                                   "Content-Security-Policy",
                                   WEBUI_CSP,
                                   "X-Content-Type-Options",
                                   "nosniff",
                                   "Referrer-Policy",
                                   "no-referrer",
                                   from_dir ? NULL : "ETag",
                                   a->etag,
                                   NULL};
    if (from_dir) {
        size_t len = strlen(dir) + 1 + strlen(a->file) + 1;
        char *path = malloc(len);
        char *data = NULL;
        size_t size = 0;
        enum gptoss_status st = GPTOSS_ERR_NOMEM;
        if (path) {
            snprintf(path, len, "%s/%s", dir, a->file);
            st = file_read_all(path, WEBUI_DIR_MAX_FILE, &data, &size);
        }
        free(path);
        if (st != GPTOSS_OK)
            http_respond_error(ex, 500, "server_error", error_message(), NULL, NULL);
        else
            http_respond_headers(ex, 200, a->content_type, data, size, headers);
        free(data);
        return;
    }
    if (etag_matches(http_exchange_header(ex, "If-None-Match"), a->etag)) {
        http_respond_headers(ex, 304, NULL, "", 0, headers);
        return;
    }
    http_respond_headers(ex, 200, a->content_type, a->data, a->len, headers);
}
