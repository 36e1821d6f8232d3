/* openai_output.h — one choice's generated token ids as OpenAI chat-completion output, whole
 * (the response's `message`) and streamed (the chunks' `delta` objects).
 *
 * The response side of openai_chat.h: ids go through the streaming harmony parser and each
 * message is routed by its header, as vLLM routes harmony output:
 *
 *   assistant, recipient functions.NAME        tool_calls[i]: id "call_" + 24 alphanumerics,
 *     (NAME: 1-64 of [A-Za-z0-9_.-], any channel)  name NAME, arguments = the message text
 *   assistant, any other recipient              reasoning: built-in tool use (browser.search,
 *     (built-in tools, a bad function name, "")    python) is the model's own working, not the
 *                                                  answer, and never a call the client must run
 *   assistant on analysis                        reasoning_content and reasoning (same text)
 *   assistant on final, commentary (a preamble),
 *     no channel, or an unknown channel          content
 *   any other role (a hallucinated user / tool
 *     turn)                                      dropped: not the assistant's words
 *
 * Recipient "all" counts as no recipient (harmony's broadcast). Texts of separate messages that
 * land in the same field are joined by "\n", as vLLM joins them. A header that never reached
 * <|message|> is turned into content by the parser; when its words hold a "to=" it was a broken
 * call, and goes to reasoning rather than showing header words as the answer.
 *
 * Stop strings (OpenAI `stop`) apply to `content` only: they are matched on the content text
 * across token and message boundaries, the longest tail that could still begin one is held back
 * while streaming, and a match cuts the content before the stop string and ends the output.
 *
 * The streamed deltas, merged in order (strings concatenated, tool calls by index), equal the
 * whole message, so streaming and non-streaming responses always agree.
 */
#ifndef GPTOSS_SERVER_OPENAI_OUTPUT_H
#define GPTOSS_SERVER_OPENAI_OUTPUT_H

#include "base/base.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPENAI_OUTPUT_MAX_STOP 4 /* OpenAI's limit on `stop` sequences */

struct openai_output_options {
    const char *const *stop; /* n_stop stop strings (valid UTF-8; "" is ignored); copied */
    size_t n_stop;
    uint64_t seed; /* tool-call ids derive from it: give each choice of a request its own */
};

void openai_output_options_init(struct openai_output_options *opts); /* no stops, seed 0 */

struct openai_output;

/* Starts the output of one choice whose prompt ended with "<|start|>assistant". The tokenizer is
 * borrowed and must outlive the output. Fails with GPTOSS_ERR_INVALID_ARGUMENT (message naming
 * the stop index) on more than OPENAI_OUTPUT_MAX_STOP stop strings or one that is not valid
 * UTF-8. */
enum gptoss_status openai_output_create(const struct tokenizer *tok,
                                        const struct openai_output_options *opts,
                                        struct openai_output **out);
void openai_output_destroy(struct openai_output *o); /* NULL is a no-op */

/* Feeds one sampled id (any value: ids outside the vocabulary are dropped). Appends the delta
 * objects it produces, zero or more, to the JSON array `deltas` (NULL: build none, for
 * non-streaming use); the first delta of a choice is {"role":"assistant"}. Shapes:
 *   {"content":"..."}
 *   {"reasoning_content":"...","reasoning":"..."}
 *   {"tool_calls":[{"index":i,"id":"call_...","type":"function",
 *                   "function":{"name":"...","arguments":""}}]}      a call begins
 *   {"tool_calls":[{"index":i,"function":{"arguments":"..."}}]}      more of its arguments
 * Returns true once a stop string has matched: the caller ends the request with finish_reason
 * "stop" (and calls openai_output_finish); later ids are ignored. */
bool openai_output_push(struct openai_output *o, uint32_t token, json_t *deltas);

/* End of generation, for whatever reason (stop id, length, stop string): completes a message
 * cut short and flushes the held-back content tail. Later pushes and finishes do nothing. */
void openai_output_finish(struct openai_output *o, json_t *deltas);

/* The whole message (a new reference), for non-streaming responses; call after finish:
 *   {"role":"assistant","content":"..." | null,"reasoning_content":"...","reasoning":"...",
 *    "tool_calls":[{"id":..,"type":"function","function":{"name":..,"arguments":..}}]}
 * content is null when there are tool calls and no content text, "" when there is nothing at
 * all; the reasoning keys appear only with reasoning text, tool_calls only with calls. */
json_t *openai_output_message(const struct openai_output *o);

/* The choice's finish_reason: "stop" after a stop string; else "length" when the engine hit
 * the token limit (length_limited); else "tool_calls" when the output holds a tool call (the
 * turn normally ends in <|call|>); else "stop" (a stop id such as <|return|>). */
const char *openai_output_finish_reason(const struct openai_output *o, bool length_limited);

/* How many tool calls the output holds so far. */
size_t openai_output_n_tool_calls(const struct openai_output *o);

#endif
