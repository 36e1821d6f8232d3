/* api_parser.c — the public reader of sampled assistant tokens (gptoss_chat_parser_*) over the
 * harmony streaming parser, reduced to what a program shows: channel, recipient, text. */
#include "api_internal.h"
#include "harmony/harmony.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdlib.h>

/* Harmony events per token are few (an end, a start, a content delta); the bound is checked. */
#define PARSER_MAX_EVENTS 8

struct gptoss_chat_parser {
    struct harmony_parser *inner;
    struct gptoss_chat_event events[PARSER_MAX_EVENTS];
};

GPTOSS_API enum gptoss_status gptoss_chat_parser_create(const struct gptoss_tokenizer *tokenizer,
                                                        struct gptoss_chat_parser **parser_out)
{
    *parser_out = NULL;
    struct gptoss_chat_parser *p = xcalloc(1, sizeof(*p));
    enum gptoss_status st = harmony_parser_create(api_tokenizer_inner(tokenizer),
                                                  /*assistant_started=*/true, &p->inner);
    if (st != GPTOSS_OK) {
        free(p);
        return st;
    }
    *parser_out = p;
    return GPTOSS_OK;
}

GPTOSS_API void gptoss_chat_parser_destroy(struct gptoss_chat_parser *parser)
{
    if (!parser)
        return;
    harmony_parser_destroy(parser->inner);
    free(parser);
}

GPTOSS_API size_t gptoss_chat_parser_push(struct gptoss_chat_parser *parser, uint32_t token,
                                          const struct gptoss_chat_event **events_out)
{
    const struct harmony_event *ev;
    size_t n = token == UINT32_MAX ? harmony_parser_finish(parser->inner, &ev)
                                   : harmony_parser_push(parser->inner, token, &ev);
    GPTOSS_ASSERT(n <= PARSER_MAX_EVENTS);
    for (size_t i = 0; i < n; i++) {
        struct gptoss_chat_event *out = &parser->events[i];
        out->type = ev[i].type == HARMONY_EVENT_MESSAGE_START ? GPTOSS_CHAT_MESSAGE_START
                    : ev[i].type == HARMONY_EVENT_CONTENT     ? GPTOSS_CHAT_CONTENT
                                                              : GPTOSS_CHAT_MESSAGE_END;
        out->channel = ev[i].header ? ev[i].header->channel : NULL;
        out->recipient = ev[i].header ? ev[i].header->recipient : NULL;
        out->text = ev[i].text;
        out->text_len = ev[i].text_len;
    }
    *events_out = parser->events;
    return n;
}
