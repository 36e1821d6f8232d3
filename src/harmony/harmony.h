/* harmony.h — the harmony chat format of gpt-oss: conversations to token ids, and generated
 * token ids back to messages. The face of the harmony layer (depends on tokenizer and base).
 *
 * Rendering reproduces openai-harmony's render_conversation_for_completion() token for token:
 *
 *   <|start|>ROLE[ to=RECIPIENT][<|channel|>CHANNEL][ CONTENT_TYPE]<|message|>CONTENT<|end|>
 *
 * with system and developer messages built from their structured content (model identity,
 * dates, reasoning effort, tool namespaces rendered as TypeScript from JSON schemas), assistant
 * tool calls ending in <|call|>, and earlier analysis dropped once a final answer exists.
 *
 * Parsing is a streaming state machine fed one generated id at a time. On well-formed output it
 * yields the messages openai-harmony's StreamableParser yields; on malformed or truncated output
 * it degrades to plain content instead of failing, and special tokens never appear as text.
 */
#ifndef GPTOSS_HARMONY_H
#define GPTOSS_HARMONY_H

#include "base/base.h"
#include "tokenizer/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum harmony_role {
    HARMONY_ROLE_SYSTEM,
    HARMONY_ROLE_DEVELOPER,
    HARMONY_ROLE_USER,
    HARMONY_ROLE_ASSISTANT,
    HARMONY_ROLE_TOOL,
};

/* "system", ..., "tool"; NULL for a value outside the enum. */
const char *harmony_role_name(enum harmony_role role);

enum harmony_effort {
    HARMONY_EFFORT_LOW,
    HARMONY_EFFORT_MEDIUM,
    HARMONY_EFFORT_HIGH,
};

/* ---- Conversations ------------------------------------------------------------------------ */
/* All strings are borrowed, NUL-terminated UTF-8; the structures only describe a conversation
 * for the duration of a render call. */

struct harmony_tool {
    const char *name;
    const char *description;     /* may be NULL or "": no comment lines */
    const char *parameters_json; /* JSON schema text, or NULL for "() => any" */
};

struct harmony_namespace {
    const char *name;        /* "functions", "browser", "python", ... */
    const char *description; /* may be NULL */
    const struct harmony_tool *tools;
    size_t n_tools;
};

/* openai-harmony's built-in tool namespaces, with their exact descriptions and schemas. */
const struct harmony_namespace *harmony_namespace_browser(void);
const struct harmony_namespace *harmony_namespace_python(void);

/* Content of a system message (SystemContent). harmony_system_init() gives harmony's defaults:
 * the ChatGPT identity, knowledge cutoff 2024-06, no date, reasoning medium, no tools, channels
 * analysis/commentary/final required. A NULL string or zero count leaves that part out. */
struct harmony_system {
    const char *model_identity;
    const char *knowledge_cutoff;
    const char *current_date;
    bool has_effort;
    enum harmony_effort effort;
    const struct harmony_namespace *const *namespaces; /* rendered sorted by name */
    size_t n_namespaces;
    const char *const *channels;
    size_t n_channels;
    bool channel_required;
};

void harmony_system_init(struct harmony_system *sys);

/* Content of a developer message (DeveloperContent): instructions and function tools, which
 * render as the "functions" namespace. n_functions == 0 renders no tools section at all. */
struct harmony_developer {
    const char *instructions; /* may be NULL */
    const struct harmony_tool *functions;
    size_t n_functions;
};

/* One message. At most one of text / system / developer is set: system only for role SYSTEM,
 * developer only for role DEVELOPER, text for any role (harmony accepts plain-text system and
 * developer messages); none set renders empty content. For role TOOL, `name` is the tool's name
 * ("functions.get_weather") and is required; for other roles it is an optional author name
 * rendered as "role:name". A content_type starting with "<|constrain|>" renders that marker as
 * its special token ("<|constrain|>json"). */
struct harmony_message {
    enum harmony_role role;
    const char *name;
    const char *recipient;
    const char *channel;
    const char *content_type;
    const char *text;
    const struct harmony_system *system;
    const struct harmony_developer *developer;
};

/* Renders msgs[0..n) as openai-harmony's render_conversation_for_completion(conversation,
 * next_role, {auto_drop_analysis}) does, appending to *out: every message, then <|start|> and
 * the next role. Fails with GPTOSS_ERR_INVALID_ARGUMENT (message naming the message index and
 * field) on a tool message without a name, content that does not match the role, or a
 * parameters_json that is not valid JSON (jansson also refuses integers beyond 64-bit signed,
 * which harmony would accept). Messages dropped as earlier analysis are not checked. On
 * failure *out is left as it was. */
enum gptoss_status harmony_render_conversation(const struct tokenizer *tok,
                                               const struct harmony_message *msgs, size_t n,
                                               enum harmony_role next_role, bool auto_drop_analysis,
                                               struct idbuf *out);

/* Renders one message (harmony's render()), appending to *out. has_function_tools decides the
 * "Calls to these tools must go to the commentary channel" line of a system message. On
 * failure *out is left as it was. */
enum gptoss_status harmony_render_message(const struct tokenizer *tok,
                                          const struct harmony_message *msg,
                                          bool has_function_tools, struct idbuf *out);

/* The JSON-schema-to-TypeScript rendering used for tool parameters (exposed for tests).
 * Appends to *out. Fails on invalid JSON, leaving *out as it was. */
enum gptoss_status harmony_schema_to_typescript(const char *schema_json, struct buf *out);

/* Stop ids for sampling an assistant turn: <|return|> and <|call|> (never <|end|>). */
extern const uint32_t harmony_stop_ids[2];

/* ---- Streaming parser --------------------------------------------------------------------- */

enum harmony_event_type {
    HARMONY_EVENT_MESSAGE_START, /* a header is complete: header fields are valid */
    HARMONY_EVENT_CONTENT,       /* content text (valid UTF-8) of the current message */
    HARMONY_EVENT_MESSAGE_END,   /* the current message ended (terminator in end_token) */
};

/* A parsed header. Strings are NUL-terminated and owned by the parser; they stay valid until the
 * next harmony_parser_push/finish/destroy call. NULL means absent; a field may also be present
 * but empty (a bare "to=" gives recipient ""). */
struct harmony_header {
    enum harmony_role role;
    const char *name;         /* tool author name, e.g. "functions.get_weather" */
    const char *recipient;    /* "functions.get_weather", "browser.search", "python", ... */
    const char *channel;      /* "analysis", "commentary", "final", ... */
    const char *content_type; /* "<|constrain|>json", "code", "json", ... */
};

struct harmony_event {
    enum harmony_event_type type;
    const struct harmony_header *header; /* the message the event belongs to */
    const char *text;                    /* CONTENT: the delta; not NUL-terminated */
    size_t text_len;
    uint32_t end_token; /* MESSAGE_END: <|end|>, <|return|> or <|call|>; 0 when the message
                         * was cut short (end of generation, or a <|start|> / <|channel|> that
                         * began the next message without a terminator) */
};

struct harmony_parser;

/* Creates a parser. With assistant_started the stream is taken to follow "<|start|>assistant"
 * (the end of a completion prompt), so the first header has role assistant; otherwise the
 * stream must open with <|start|>. The tokenizer is borrowed and must outlive the parser. */
enum gptoss_status harmony_parser_create(const struct tokenizer *tok, bool assistant_started,
                                         struct harmony_parser **parser_out);
void harmony_parser_destroy(struct harmony_parser *p); /* NULL is a no-op */

/* Feeds one generated id. Stores in *events_out an array of the events it caused (zero or
 * more) and returns their count; the array is owned by the parser and valid until the next
 * call. Never fails: malformed input degrades to content. */
size_t harmony_parser_push(struct harmony_parser *p, uint32_t id,
                           const struct harmony_event **events_out);

/* End of generation: completes a message cut short (MESSAGE_END with end_token 0) and flushes
 * held-back bytes. Same event contract as harmony_parser_push. */
size_t harmony_parser_finish(struct harmony_parser *p, const struct harmony_event **events_out);

#endif
