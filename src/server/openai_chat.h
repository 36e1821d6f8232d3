/* openai_chat.h — an OpenAI chat-completions request as a harmony conversation.
 *
 * The one place where the OpenAI chat schema (messages, tools, reasoning_effort) meets the
 * harmony format, shared by `gptoss tokenize --chat` and the HTTP server so both build the very
 * same prompt. The mapping:
 *
 *   harmony system      identity, knowledge cutoff, optional current date (from the options),
 *                       reasoning effort (request "reasoning_effort"; "minimal" counts as low),
 *                       the built-in browser / python tools when "tools" holds a tool of type
 *                       "browser" (or "web_search", "web_search_preview") / "python" (or
 *                       "code_interpreter"), the channels line
 *   harmony developer   leading "system"/"developer" messages as instructions (joined by a
 *                       blank line) and the request's function tools (omitted when
 *                       tool_choice is "none"); present when either exists
 *   user                content (a string or text parts)
 *   assistant           reasoning_content / reasoning -> analysis; content -> final, or a
 *                       commentary preamble when tool_calls follow; each tool call ->
 *                       commentary to=functions.NAME <|constrain|>json with its arguments
 *   tool                author functions.NAME (NAME from "name", else from the assistant call
 *                       whose id is tool_call_id) to=assistant on commentary
 *   later system/developer messages become developer messages in place.
 *
 * Earlier analysis is dropped by the renderer exactly as openai-harmony does.
 */
#ifndef GPTOSS_SERVER_OPENAI_CHAT_H
#define GPTOSS_SERVER_OPENAI_CHAT_H

#include "base/base.h"
#include "harmony/harmony.h"

#include <jansson.h>

struct openai_chat_options {
    const char *model_identity;   /* NULL: harmony's default */
    const char *knowledge_cutoff; /* NULL: harmony's default */
    const char *current_date;     /* NULL: no "Current date:" line */
    enum harmony_effort default_effort;
    uint32_t max_tools; /* most entries in "tools" (0: no limit) */
};

void openai_chat_options_init(struct openai_chat_options *opts);

/* The conversation built from a request. Every pointer points into the arena given to
 * openai_chat_parse() (or into the request JSON, which must outlive it). */
struct openai_chat {
    struct harmony_system system;
    struct harmony_developer developer;
    const struct harmony_namespace *builtin[2]; /* the system message's browser / python */
    struct harmony_message *messages;
    size_t n_messages;
};

/* Maps `request` (a parsed JSON object) onto *chat, allocating from `arena`. On a malformed
 * request returns GPTOSS_ERR_INVALID_ARGUMENT (or GPTOSS_ERR_UNSUPPORTED for valid OpenAI
 * features gpt-oss cannot take, such as image parts), leaves the reason in error_message(), and
 * stores in *param_out the request field at fault ("messages[2].tool_call_id"), allocated from
 * the arena, for the "param" of an OpenAI error body. */
enum gptoss_status openai_chat_parse(const json_t *request, const struct openai_chat_options *opts,
                                     struct arena *arena, struct openai_chat *chat,
                                     const char **param_out);

/* Renders a parsed chat as the prompt for the assistant's next turn, appending to *out. */
enum gptoss_status openai_chat_render(const struct tokenizer *tok, const struct openai_chat *chat,
                                      struct idbuf *out);

#endif
