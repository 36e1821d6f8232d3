/* webui.h — the built-in web chat UI: its files, embedded into the binary at build time
 * (webui_embed.c writes the table), and the handler that serves them.
 *
 * The UI is plain HTML/CSS/JS from web/ plus marked, DOMPurify and highlight.js from Debian's
 * packages, all served by this process so the page works with no internet. Pages carry a strict
 * Content-Security-Policy (scripts and connections to this origin only) as a second line of
 * defence behind DOMPurify against model output that tries to run script.
 */
#ifndef GPTOSS_SERVER_WEBUI_H
#define GPTOSS_SERVER_WEBUI_H

#include <stddef.h>

struct http_exchange;

struct webui_asset {
    const char *path;         /* URL path: "/", "/app.js", "/vendor/marked.min.js" */
    const char *file;         /* the file's name ("index.html"), looked up in a --webui-dir */
    const char *content_type; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted strong ETag */
};

extern const struct webui_asset webui_assets[];
extern const size_t webui_n_assets;

/* Serves the asset at the exchange's path: 200 with caching headers, or 304 when the client's
 * If-None-Match holds the current ETag. With `dir` set, files that came from web/ are read
 * from `dir` at each request instead (for working on the UI without rebuilding); the vendored
 * libraries still come from the binary. */
void webui_serve(struct http_exchange *ex, const char *dir);

#endif
