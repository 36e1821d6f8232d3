/* openai_chat.c — mapping an OpenAI chat-completions request onto a harmony conversation.
 *
 * The rules are listed in openai_chat.h. Everything built here lives in the caller's arena, so a
 * request that fails halfway needs no clean-up; strings that come straight from the request JSON
 * are borrowed. Every rejection names the request field at fault, because that is what an
 * OpenAI client shows its user.
 */
#include "openai_chat.h"

#include <stdlib.h>
#include <string.h>

struct chat_ctx {
    struct arena *arena;
    const char **param_out;
    struct harmony_message *msgs;
    size_t n_msgs;
    size_t cap_msgs;
    /* ids and names of the tool calls seen so far, to resolve tool_call_id */
    const char **call_ids;
    const char **call_names;
    size_t n_calls;
    size_t cap_calls;
    const struct openai_chat_options *opts;
};

static enum gptoss_status chat_fail(struct chat_ctx *c, enum gptoss_status st, const char *param,
                                    const char *fmt, const char *detail)
{
    *c->param_out = param;
    return error_set(st, fmt, param, detail ? detail : "");
}

static struct harmony_message *chat_push(struct chat_ctx *c, enum harmony_role role)
{
    GPTOSS_ASSERT(c->n_msgs < c->cap_msgs);
    struct harmony_message *m = &c->msgs[c->n_msgs++];
    memset(m, 0, sizeof *m);
    m->role = role;
    return m;
}

/* A JSON string as a C string; strings holding U+0000 are refused, since a C string would
 * silently cut them short. */
static enum gptoss_status chat_string(struct chat_ctx *c, const json_t *v, const char *param,
                                      const char **out)
{
    if (!json_is_string(v))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, param, "%s must be a string%s", NULL);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, param, "%s contains a NUL character%s",
                         NULL);
    *out = json_string_value(v);
    return GPTOSS_OK;
}

/* The text of a message's content: a string, or an array of text parts concatenated. NULL or a
 * missing content gives NULL. */
static enum gptoss_status chat_content(struct chat_ctx *c, const json_t *content, const char *param,
                                       const char **text_out)
{
    *text_out = NULL;
    if (!content || json_is_null(content))
        return GPTOSS_OK;
    if (json_is_string(content))
        return chat_string(c, content, param, text_out);
    if (!json_is_array(content))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, param,
                         "%s must be a string or an array of content parts%s", NULL);
    struct buf text;
    buf_init(&text);
    size_t i;
    const json_t *part;
    enum gptoss_status st = GPTOSS_OK;
    json_array_foreach (content, i, part) {
        const char *part_param = arena_printf(c->arena, "%s[%zu]", param, i);
        const char *type = json_string_value(json_object_get(part, "type"));
        const char *field = NULL;
        if (!json_is_object(part) || !type) {
            st = chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, part_param,
                           "%s must be an object with a \"type\"%s", NULL);
        } else if (strcmp(type, "text") == 0) {
            field = "text";
        } else if (strcmp(type, "refusal") == 0) {
            field = "refusal";
        } else {
            st = chat_fail(c, GPTOSS_ERR_UNSUPPORTED, part_param,
                           "%s: content parts of type \"%s\" are not supported; gpt-oss reads "
                           "text only",
                           type);
        }
        const char *s = NULL;
        if (st == GPTOSS_OK)
            st = chat_string(c, json_object_get(part, field),
                             arena_printf(c->arena, "%s.%s", part_param, field), &s);
        if (st != GPTOSS_OK)
            break;
        buf_puts(&text, s);
    }
    if (st == GPTOSS_OK)
        *text_out = arena_memdup0(c->arena, text.data ? text.data : "", text.len);
    buf_deinit(&text);
    return st;
}

static enum gptoss_status chat_effort(struct chat_ctx *c, const json_t *request,
                                      enum harmony_effort *effort)
{
    const json_t *v = json_object_get(request, "reasoning_effort");
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    const char *s = json_string_value(v);
    if (s && (strcmp(s, "low") == 0 || strcmp(s, "minimal") == 0))
        *effort = HARMONY_EFFORT_LOW;
    else if (s && strcmp(s, "medium") == 0)
        *effort = HARMONY_EFFORT_MEDIUM;
    else if (s && strcmp(s, "high") == 0)
        *effort = HARMONY_EFFORT_HIGH;
    else
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, "reasoning_effort",
                         "%s must be \"low\", \"medium\" or \"high\"%s", NULL);
    return GPTOSS_OK;
}

/* The harmony built-in namespace a tool type names, or NULL for none. The Responses API's names
 * are accepted too, as vLLM accepts them. */
static const struct harmony_namespace *chat_builtin(const char *type)
{
    if (strcmp(type, "browser") == 0 || strcmp(type, "web_search") == 0 ||
        strcmp(type, "web_search_preview") == 0)
        return harmony_namespace_browser();
    if (strcmp(type, "python") == 0 || strcmp(type, "code_interpreter") == 0)
        return harmony_namespace_python();
    return NULL;
}

/* One {"type": "function", "function": {...}} tool. */
static enum gptoss_status chat_function(struct chat_ctx *c, const json_t *tool, const char *param,
                                        struct harmony_tool *fn_out)
{
    const json_t *fn = json_object_get(tool, "function");
    if (!json_is_object(fn))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT,
                         arena_printf(c->arena, "%s.function", param), "%s must be an object%s",
                         NULL);
    const char *name_param = arena_printf(c->arena, "%s.function.name", param);
    enum gptoss_status st = chat_string(c, json_object_get(fn, "name"), name_param, &fn_out->name);
    if (st != GPTOSS_OK)
        return st;
    if (!fn_out->name[0])
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, name_param, "%s must not be empty%s",
                         NULL);
    const json_t *desc = json_object_get(fn, "description");
    if (desc && !json_is_null(desc)) {
        st = chat_string(c, desc, arena_printf(c->arena, "%s.function.description", param),
                         &fn_out->description);
        if (st != GPTOSS_OK)
            return st;
    }
    const json_t *params = json_object_get(fn, "parameters");
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT,
                             arena_printf(c->arena, "%s.function.parameters", param),
                             "%s must be a JSON schema object%s", NULL);
        char *text = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(17));
        GPTOSS_ASSERT(text);
        fn_out->parameters_json = arena_strdup(c->arena, text);
        free(text);
    }
    return GPTOSS_OK;
}

/* tools[] -> harmony function tools (developer message) and built-in namespaces (system
 * message); tool_choice "none" leaves them all out of the prompt. */
static enum gptoss_status chat_tools(struct chat_ctx *c, const json_t *request,
                                     struct openai_chat *chat)
{
    const json_t *tools = json_object_get(request, "tools");
    const json_t *choice = json_object_get(request, "tool_choice");
    if (choice && !json_is_null(choice) && !json_is_string(choice) && !json_is_object(choice))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, "tool_choice",
                         "%s must be \"none\", \"auto\", \"required\" or a function object%s",
                         NULL);
    if (!tools || json_is_null(tools))
        return GPTOSS_OK;
    if (!json_is_array(tools))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, "tools", "%s must be an array%s", NULL);
    if (c->opts->max_tools && json_array_size(tools) > c->opts->max_tools) {
        char limit[64];
        snprintf(limit, sizeof limit, " of at most %u entries (the server's --max-tools)",
                 c->opts->max_tools);
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, "tools", "%s must be an array%s", limit);
    }
    if (json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0)
        return GPTOSS_OK;
    size_t n = json_array_size(tools), n_fns = 0;
    struct harmony_tool *fns = arena_calloc(c->arena, n ? n : 1, sizeof *fns);
    size_t i;
    const json_t *tool;
    json_array_foreach (tools, i, tool) {
        const char *param = arena_printf(c->arena, "tools[%zu]", i);
        const char *type = json_string_value(json_object_get(tool, "type"));
        const struct harmony_namespace *builtin = type ? chat_builtin(type) : NULL;
        if (builtin) {
            size_t k = 0;
            while (k < chat->system.n_namespaces && chat->builtin[k] != builtin)
                k++;
            if (k == chat->system.n_namespaces)
                chat->builtin[chat->system.n_namespaces++] = builtin;
            continue;
        }
        if (!json_is_object(tool) || !type || strcmp(type, "function") != 0)
            return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, param,
                             "%s must be {\"type\": \"function\", \"function\": {...}} or a "
                             "built-in tool (browser, python)%s",
                             NULL);
        enum gptoss_status st = chat_function(c, tool, param, &fns[n_fns]);
        if (st != GPTOSS_OK)
            return st;
        n_fns++;
    }
    chat->developer.functions = fns;
    chat->developer.n_functions = n_fns;
    chat->system.namespaces = chat->builtin;
    return GPTOSS_OK;
}

static void chat_remember_call(struct chat_ctx *c, const char *id, const char *name)
{
    if (c->n_calls == c->cap_calls) {
        size_t cap = c->cap_calls ? 2 * c->cap_calls : 8;
        const char **ids = arena_alloc(c->arena, cap * sizeof *ids);
        const char **names = arena_alloc(c->arena, cap * sizeof *names);
        if (c->n_calls) {
            memcpy(ids, c->call_ids, c->n_calls * sizeof *ids);
            memcpy(names, c->call_names, c->n_calls * sizeof *names);
        }
        c->call_ids = ids;
        c->call_names = names;
        c->cap_calls = cap;
    }
    c->call_ids[c->n_calls] = id;
    c->call_names[c->n_calls] = name;
    c->n_calls++;
}

static enum gptoss_status chat_assistant(struct chat_ctx *c, const json_t *msg, const char *param)
{
    const char *reasoning = NULL, *content = NULL;
    const json_t *r = json_object_get(msg, "reasoning_content");
    const char *r_field = "reasoning_content";
    if (!r || json_is_null(r)) {
        r = json_object_get(msg, "reasoning");
        r_field = "reasoning";
    }
    enum gptoss_status st = GPTOSS_OK;
    if (r && !json_is_null(r))
        st = chat_string(c, r, arena_printf(c->arena, "%s.%s", param, r_field), &reasoning);
    if (st == GPTOSS_OK)
        st = chat_content(c, json_object_get(msg, "content"),
                          arena_printf(c->arena, "%s.content", param), &content);
    if (st != GPTOSS_OK)
        return st;
    const json_t *calls = json_object_get(msg, "tool_calls");
    if (calls && !json_is_null(calls) && !json_is_array(calls))
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT,
                         arena_printf(c->arena, "%s.tool_calls", param), "%s must be an array%s",
                         NULL);
    size_t n_calls = json_array_size(calls);

    if (reasoning) {
        struct harmony_message *m = chat_push(c, HARMONY_ROLE_ASSISTANT);
        m->channel = "analysis";
        m->text = reasoning;
    }
    bool has_content = content && content[0];
    if (has_content || (!reasoning && n_calls == 0)) {
        struct harmony_message *m = chat_push(c, HARMONY_ROLE_ASSISTANT);
        /* Text that comes with tool calls is a preamble, which harmony puts on commentary. */
        m->channel = n_calls ? "commentary" : "final";
        m->text = content ? content : "";
    }
    size_t i;
    const json_t *call;
    json_array_foreach (calls, i, call) {
        const char *cparam = arena_printf(c->arena, "%s.tool_calls[%zu]", param, i);
        const json_t *fn = json_object_get(call, "function");
        const char *type = json_string_value(json_object_get(call, "type"));
        if (!json_is_object(call) || !json_is_object(fn) || (type && strcmp(type, "function")))
            return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT, cparam,
                             "%s must be {\"type\": \"function\", \"function\": {\"name\", "
                             "\"arguments\"}}%s",
                             NULL);
        const char *name = NULL, *args = "", *id = NULL;
        st = chat_string(c, json_object_get(fn, "name"),
                         arena_printf(c->arena, "%s.function.name", cparam), &name);
        if (st != GPTOSS_OK)
            return st;
        const json_t *a = json_object_get(fn, "arguments");
        if (json_is_object(a) || json_is_array(a)) {
            /* Some clients send the arguments as JSON rather than as a JSON string. */
            char *text = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17));
            GPTOSS_ASSERT(text);
            args = arena_strdup(c->arena, text);
            free(text);
        } else if (a && !json_is_null(a)) {
            st = chat_string(c, a, arena_printf(c->arena, "%s.function.arguments", cparam), &args);
            if (st != GPTOSS_OK)
                return st;
        }
        const json_t *jid = json_object_get(call, "id");
        if (json_is_string(jid))
            id = json_string_value(jid);
        chat_remember_call(c, id, name);
        struct harmony_message *m = chat_push(c, HARMONY_ROLE_ASSISTANT);
        m->channel = "commentary";
        m->recipient = arena_printf(c->arena, "functions.%s", name);
        m->content_type = "<|constrain|>json";
        m->text = args;
    }
    return GPTOSS_OK;
}

static enum gptoss_status chat_tool_result(struct chat_ctx *c, const json_t *msg, const char *param)
{
    const char *content, *name = NULL;
    enum gptoss_status st = chat_content(c, json_object_get(msg, "content"),
                                         arena_printf(c->arena, "%s.content", param), &content);
    if (st != GPTOSS_OK)
        return st;
    const json_t *jname = json_object_get(msg, "name");
    if (jname && !json_is_null(jname)) {
        st = chat_string(c, jname, arena_printf(c->arena, "%s.name", param), &name);
        if (st != GPTOSS_OK)
            return st;
    }
    const char *call_id = json_string_value(json_object_get(msg, "tool_call_id"));
    if (!name && call_id) {
        for (size_t i = c->n_calls; i-- > 0;) {
            if (c->call_ids[i] && strcmp(c->call_ids[i], call_id) == 0) {
                name = c->call_names[i];
                break;
            }
        }
    }
    if (!name || !name[0])
        return chat_fail(c, GPTOSS_ERR_INVALID_ARGUMENT,
                         arena_printf(c->arena, "%s.tool_call_id", param),
                         "%s does not match a tool call of an earlier assistant message (and the "
                         "message has no \"name\")%s",
                         NULL);
    struct harmony_message *m = chat_push(c, HARMONY_ROLE_TOOL);
    m->name = arena_printf(c->arena, "functions.%s", name);
    m->recipient = "assistant";
    m->channel = "commentary";
    m->text = content ? content : "";
    return GPTOSS_OK;
}

void openai_chat_options_init(struct openai_chat_options *opts)
{
    opts->model_identity = NULL;
    opts->knowledge_cutoff = NULL;
    opts->current_date = NULL;
    opts->default_effort = HARMONY_EFFORT_MEDIUM;
    opts->max_tools = 128; /* OpenAI's own limit */
}

static bool chat_is_instruction_role(const char *role)
{
    return strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
}

enum gptoss_status openai_chat_parse(const json_t *request, const struct openai_chat_options *opts,
                                     struct arena *arena, struct openai_chat *chat,
                                     const char **param_out)
{
    memset(chat, 0, sizeof *chat);
    *param_out = NULL;
    struct chat_ctx c = {.arena = arena, .param_out = param_out, .opts = opts};
    if (!json_is_object(request))
        return chat_fail(&c, GPTOSS_ERR_INVALID_ARGUMENT, "",
                         "the request%s must be a JSON "
                         "object%s",
                         NULL);
    const json_t *messages = json_object_get(request, "messages");
    if (!json_is_array(messages) || json_array_size(messages) == 0)
        return chat_fail(&c, GPTOSS_ERR_INVALID_ARGUMENT, "messages",
                         "%s must be a non-empty array%s", NULL);

    struct harmony_system *sys = &chat->system;
    harmony_system_init(sys);
    if (opts->model_identity)
        sys->model_identity = opts->model_identity;
    if (opts->knowledge_cutoff)
        sys->knowledge_cutoff = opts->knowledge_cutoff;
    sys->current_date = opts->current_date;
    sys->effort = opts->default_effort;
    enum gptoss_status st = chat_effort(&c, request, &sys->effort);
    if (st == GPTOSS_OK)
        st = chat_tools(&c, request, chat);
    if (st != GPTOSS_OK)
        return st;

    /* Upper bound on harmony messages: system, developer, and per OpenAI message an analysis, a
     * text message and one per tool call. */
    size_t cap = 2;
    size_t i;
    const json_t *msg;
    json_array_foreach (messages, i, msg)
        cap += 2 + json_array_size(json_object_get(msg, "tool_calls"));
    c.msgs = arena_calloc(arena, cap, sizeof *c.msgs);
    c.cap_msgs = cap;

    struct harmony_message *m = chat_push(&c, HARMONY_ROLE_SYSTEM);
    m->system = sys;
    struct harmony_message *dev_msg = chat_push(&c, HARMONY_ROLE_DEVELOPER);
    dev_msg->developer = &chat->developer;

    struct buf instructions;
    buf_init(&instructions);
    bool leading = true;
    json_array_foreach (messages, i, msg) {
        const char *param = arena_printf(arena, "messages[%zu]", i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!json_is_object(msg) || !role) {
            st = chat_fail(&c, GPTOSS_ERR_INVALID_ARGUMENT, param,
                           "%s must be an object with a \"role\"%s", NULL);
            break;
        }
        const char *text = NULL;
        if (chat_is_instruction_role(role)) {
            st = chat_content(&c, json_object_get(msg, "content"),
                              arena_printf(arena, "%s.content", param), &text);
            if (st != GPTOSS_OK)
                break;
            if (leading) {
                /* Empty instruction messages add nothing, not even a blank line. */
                if (text && text[0] && instructions.len)
                    buf_puts(&instructions, "\n\n");
                buf_puts(&instructions, text ? text : "");
            } else {
                struct harmony_developer *d = arena_calloc(arena, 1, sizeof *d);
                d->instructions = text ? text : "";
                chat_push(&c, HARMONY_ROLE_DEVELOPER)->developer = d;
            }
            continue;
        }
        leading = false;
        if (strcmp(role, "user") == 0) {
            st = chat_content(&c, json_object_get(msg, "content"),
                              arena_printf(arena, "%s.content", param), &text);
            if (st == GPTOSS_OK && !text)
                st = chat_fail(&c, GPTOSS_ERR_INVALID_ARGUMENT,
                               arena_printf(arena, "%s.content", param),
                               "%s is required for user messages%s", NULL);
            if (st == GPTOSS_OK)
                chat_push(&c, HARMONY_ROLE_USER)->text = text;
        } else if (strcmp(role, "assistant") == 0) {
            st = chat_assistant(&c, msg, param);
        } else if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0) {
            st = chat_tool_result(&c, msg, param);
        } else {
            st = chat_fail(&c, GPTOSS_ERR_INVALID_ARGUMENT, arena_printf(arena, "%s.role", param),
                           "%s must be one of system, developer, user, assistant, tool (got "
                           "\"%s\")",
                           role);
        }
        if (st != GPTOSS_OK)
            break;
    }
    if (st == GPTOSS_OK && instructions.len)
        chat->developer.instructions = arena_memdup0(arena, instructions.data, instructions.len);
    buf_deinit(&instructions);
    if (st != GPTOSS_OK)
        return st;

    /* The developer message exists only when it has something to say. */
    if (!chat->developer.instructions && chat->developer.n_functions == 0) {
        memmove(dev_msg, dev_msg + 1, (c.n_msgs - 2) * sizeof *dev_msg);
        c.n_msgs--;
    }
    chat->messages = c.msgs;
    chat->n_messages = c.n_msgs;
    return GPTOSS_OK;
}

enum gptoss_status openai_chat_render(const struct tokenizer *tok, const struct openai_chat *chat,
                                      struct idbuf *out)
{
    return harmony_render_conversation(tok, chat->messages, chat->n_messages,
                                       HARMONY_ROLE_ASSISTANT, /*auto_drop_analysis=*/true, out);
}
