/* render.c — conversations to token ids in the harmony format, as openai-harmony renders them.
 *
 * A message is <|start|>, a header, <|message|>, its content and a terminator. Every text piece
 * of the header (role, ":name", " to=recipient", the channel, " content_type") is encoded on
 * its own, exactly where harmony splits them, because BPE merges across a boundary would give
 * different ids. System and developer content is first built as one text (sections joined by
 * blank lines, tool namespaces via template_tools_section's layout and schema.c's TypeScript)
 * and then encoded in one piece, again as harmony does.
 *
 * The conversation level adds two rules that need the whole conversation: the "Calls to these
 * tools must go to the commentary channel" line appears in system messages when any developer
 * message defines function tools, and analysis messages are dropped under harmony's
 * auto_drop_analysis rule (see harmony_render_conversation).
 */
#include "harmony.h"

#include <stdlib.h>
#include <string.h>

const uint32_t harmony_stop_ids[2] = {TOKEN_RETURN, TOKEN_CALL};

static const char *const role_names[] = {
    [HARMONY_ROLE_SYSTEM] = "system", [HARMONY_ROLE_DEVELOPER] = "developer",
    [HARMONY_ROLE_USER] = "user",     [HARMONY_ROLE_ASSISTANT] = "assistant",
    [HARMONY_ROLE_TOOL] = "tool",
};

static bool role_valid(enum harmony_role role)
{
    return (unsigned)role < sizeof role_names / sizeof role_names[0];
}

const char *harmony_role_name(enum harmony_role role)
{
    return role_valid(role) ? role_names[role] : NULL;
}

static const char *const default_channels[] = {"analysis", "commentary", "final"};

void harmony_system_init(struct harmony_system *sys)
{
    *sys = (struct harmony_system){
        .model_identity = "You are ChatGPT, a large language model trained by OpenAI.",
        .knowledge_cutoff = "2024-06",
        .current_date = NULL,
        .has_effort = true,
        .effort = HARMONY_EFFORT_MEDIUM,
        .namespaces = NULL,
        .n_namespaces = 0,
        .channels = default_channels,
        .n_channels = 3,
        .channel_required = true,
    };
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void encode(const struct tokenizer *tok, const char *s, size_t n, struct idbuf *out)
{
    if (n)
        tokenizer_encode(tok, s, n, false, out);
}

static void encode_str(const struct tokenizer *tok, const char *s, struct idbuf *out)
{
    encode(tok, s, strlen(s), out);
}

/* Appends "prefix + piece" to a text whose pieces are joined by "\n", as Rust's
 * Vec::join("\n") would. */
static void put_piece(struct buf *t, bool *first, const char *prefix, const char *s, size_t n)
{
    if (!*first)
        buf_putc(t, '\n');
    *first = false;
    buf_puts(t, prefix);
    buf_append(t, s, n);
}

/* Appends each line of `text` as its own piece, splitting as Rust's str::lines() does: on "\n",
 * dropping a "\r" that precedes it, with no empty piece after a final "\n" and none for "". */
static void put_lines(struct buf *t, bool *first, const char *prefix, const char *text)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (nl && n > 0 && p[n - 1] == '\r')
            n--;
        put_piece(t, first, prefix, p, n);
        p = nl ? nl + 1 : NULL;
    }
}

/* One namespace: "## name", its description (as "// " comments when it has tools, verbatim
 * otherwise), then a "namespace name { ... }" block with one type per tool. */
static enum gptoss_status render_namespace(const struct harmony_namespace *ns, struct buf *t)
{
    bool first = false; /* "## name\n" is the first piece */
    buf_printf(t, "## %s\n", ns->name);
    put_lines(t, &first, ns->n_tools ? "// " : "", ns->description);
    if (ns->n_tools == 0)
        return GPTOSS_OK;
    buf_printf(t, "\nnamespace %s {\n", ns->name);
    for (size_t i = 0; i < ns->n_tools; i++) {
        const struct harmony_tool *tool = &ns->tools[i];
        if (!tool->name) {
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "namespace %s: tool %zu has no name",
                             ns->name, i);
        }
        put_lines(t, &first, "// ", tool->description);
        buf_printf(t, "\ntype %s = ", tool->name);
        if (tool->parameters_json) {
            buf_puts(t, "(_: ");
            enum gptoss_status st = harmony_schema_to_typescript(tool->parameters_json, t);
            if (st != GPTOSS_OK)
                return error_wrap(st, "namespace %s: tool %s: ", ns->name, tool->name);
            buf_puts(t, ") => any;\n");
        } else {
            buf_puts(t, "() => any;\n");
        }
    }
    buf_printf(t, "\n} // namespace %s", ns->name);
    return GPTOSS_OK;
}

/* "# Tools" and the namespaces, separated by blank lines. */
static enum gptoss_status render_tools(const struct harmony_namespace *const *nss, size_t n,
                                       struct buf *t)
{
    buf_puts(t, "# Tools");
    for (size_t i = 0; i < n; i++) {
        buf_puts(t, "\n\n");
        enum gptoss_status st = render_namespace(nss[i], t);
        if (st != GPTOSS_OK)
            return st;
    }
    return GPTOSS_OK;
}

static int cmp_namespace(const void *a, const void *b)
{
    const struct harmony_namespace *x = *(const struct harmony_namespace *const *)a;
    const struct harmony_namespace *y = *(const struct harmony_namespace *const *)b;
    return strcmp(x->name, y->name);
}

/* The system namespaces as harmony keeps them, in a map keyed by name: a later namespace
 * replaces an earlier one of the same name, and they come out sorted by name (byte order). */
static enum gptoss_status render_system_tools(const struct harmony_system *sys, struct buf *t)
{
    const struct harmony_namespace **nss = xmalloc(sys->n_namespaces * sizeof *nss);
    size_t n = 0;
    for (size_t i = 0; i < sys->n_namespaces; i++) {
        const struct harmony_namespace *ns = sys->namespaces[i];
        if (!ns || !ns->name) {
            free(nss);
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "tool namespace %zu has no name", i);
        }
        size_t j = 0;
        while (j < n && strcmp(nss[j]->name, ns->name) != 0)
            j++;
        nss[j] = ns;
        if (j == n)
            n++;
    }
    qsort(nss, n, sizeof *nss, cmp_namespace);
    enum gptoss_status st = render_tools(nss, n, t);
    free(nss);
    return st;
}

/* Starts a new "\n\n"-separated section of a system or developer text. */
static void section(struct buf *t, bool *first)
{
    if (!*first)
        buf_puts(t, "\n\n");
    *first = false;
}

static enum gptoss_status render_system_text(const struct harmony_system *sys,
                                             bool has_function_tools, struct buf *t)
{
    static const char *const efforts[] = {"low", "medium", "high"};
    bool first = true;
    if (sys->model_identity || sys->knowledge_cutoff || sys->current_date) {
        bool line_first = true;
        section(t, &first);
        if (sys->model_identity)
            put_piece(t, &line_first, "", sys->model_identity, strlen(sys->model_identity));
        if (sys->knowledge_cutoff)
            put_piece(t, &line_first, "Knowledge cutoff: ", sys->knowledge_cutoff,
                      strlen(sys->knowledge_cutoff));
        if (sys->current_date)
            put_piece(t, &line_first, "Current date: ", sys->current_date,
                      strlen(sys->current_date));
    }
    if (sys->has_effort) {
        if ((unsigned)sys->effort >= sizeof efforts / sizeof efforts[0])
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "system: invalid reasoning effort");
        section(t, &first);
        buf_printf(t, "Reasoning: %s", efforts[sys->effort]);
    }
    if (sys->n_namespaces) {
        section(t, &first);
        enum gptoss_status st = render_system_tools(sys, t);
        if (st != GPTOSS_OK)
            return error_wrap(st, "system: ");
    }
    if (sys->n_channels) {
        section(t, &first);
        buf_puts(t, "# Valid channels: ");
        for (size_t i = 0; i < sys->n_channels; i++) {
            if (!sys->channels[i])
                return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "system: channel %zu is NULL", i);
            buf_printf(t, "%s%s", i ? ", " : "", sys->channels[i]);
        }
        buf_putc(t, '.');
        if (sys->channel_required)
            buf_puts(t, " Channel must be included for every message.");
        if (has_function_tools)
            buf_puts(t, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    }
    return GPTOSS_OK;
}

static enum gptoss_status render_developer_text(const struct harmony_developer *dev, struct buf *t)
{
    bool first = true;
    if (dev->instructions) {
        section(t, &first);
        buf_puts(t, "# Instructions");
        section(t, &first);
        buf_puts(t, dev->instructions);
    }
    if (dev->n_functions) {
        const struct harmony_namespace functions = {
            .name = "functions",
            .description = NULL,
            .tools = dev->functions,
            .n_tools = dev->n_functions,
        };
        const struct harmony_namespace *nss[1] = {&functions};
        section(t, &first);
        enum gptoss_status st = render_tools(nss, 1, t);
        if (st != GPTOSS_OK)
            return error_wrap(st, "developer: ");
    }
    return GPTOSS_OK;
}

/* Checks that the message's content fits its role; harmony allows plain text in any role. */
static enum gptoss_status check_message(const struct harmony_message *msg)
{
    if (!role_valid(msg->role))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "role: invalid value %d", (int)msg->role);
    if ((msg->text != NULL) + (msg->system != NULL) + (msg->developer != NULL) > 1)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "content: more than one of text, system and developer is set");
    if (msg->system && msg->role != HARMONY_ROLE_SYSTEM)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "content: system content in a %s message",
                         role_names[msg->role]);
    if (msg->developer && msg->role != HARMONY_ROLE_DEVELOPER)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "content: developer content in a %s message",
                         role_names[msg->role]);
    if (msg->role == HARMONY_ROLE_TOOL && !msg->name)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "name: a tool message needs the tool's name");
    return GPTOSS_OK;
}

/* The header and content of a checked message, with the text pieces encoded separately. */
static enum gptoss_status render_checked(const struct tokenizer *tok,
                                         const struct harmony_message *msg, bool has_function_tools,
                                         struct buf *t, struct idbuf *out)
{
    static const char constrain[] = "<|constrain|>";
    idbuf_push(out, TOKEN_START);
    if (msg->role == HARMONY_ROLE_TOOL) {
        encode_str(tok, msg->name, out);
    } else {
        encode_str(tok, role_names[msg->role], out);
        if (msg->name) {
            buf_reset(t);
            buf_printf(t, ":%s", msg->name);
            encode(tok, t->data, t->len, out);
        }
    }
    if (msg->recipient && strcmp(msg->recipient, "all") != 0) {
        buf_reset(t);
        buf_printf(t, " to=%s", msg->recipient);
        encode(tok, t->data, t->len, out);
    }
    if (msg->channel) {
        idbuf_push(out, TOKEN_CHANNEL);
        encode_str(tok, msg->channel, out);
    }
    if (msg->content_type) {
        if (strncmp(msg->content_type, constrain, sizeof constrain - 1) == 0) {
            encode_str(tok, " ", out);
            idbuf_push(out, TOKEN_CONSTRAIN);
            encode_str(tok, msg->content_type + sizeof constrain - 1, out);
        } else {
            buf_reset(t);
            buf_printf(t, " %s", msg->content_type);
            encode(tok, t->data, t->len, out);
        }
    }
    idbuf_push(out, TOKEN_MESSAGE);

    enum gptoss_status st = GPTOSS_OK;
    buf_reset(t);
    if (msg->system)
        st = render_system_text(msg->system, has_function_tools, t);
    else if (msg->developer)
        st = render_developer_text(msg->developer, t);
    else if (msg->text)
        buf_puts(t, msg->text);
    if (st != GPTOSS_OK)
        return st;
    encode(tok, t->data, t->len, out);

    bool call = msg->role == HARMONY_ROLE_ASSISTANT && msg->recipient;
    idbuf_push(out, call ? TOKEN_CALL : TOKEN_END);
    return GPTOSS_OK;
}

/* On failure *out is left as it was on entry. */
enum gptoss_status harmony_render_message(const struct tokenizer *tok,
                                          const struct harmony_message *msg,
                                          bool has_function_tools, struct idbuf *out)
{
    enum gptoss_status st = check_message(msg);
    if (st != GPTOSS_OK)
        return st;
    size_t mark = out->len;
    struct buf t;
    buf_init(&t);
    st = render_checked(tok, msg, has_function_tools, &t, out);
    buf_deinit(&t);
    if (st != GPTOSS_OK)
        out->len = mark;
    return st;
}

/* harmony's analysis dropping: when auto_drop_analysis is set and the last assistant message is
 * on the final channel, every analysis message (of any role) that comes before the first
 * final-channel message (of any role) is left out. Later analysis messages stay, even those of
 * earlier turns in a long conversation; this reproduces harmony, not the format's stated
 * intent. Dropped messages are not checked. On failure *out is left as it was on entry. */
enum gptoss_status harmony_render_conversation(const struct tokenizer *tok,
                                               const struct harmony_message *msgs, size_t n,
                                               enum harmony_role next_role, bool auto_drop_analysis,
                                               struct idbuf *out)
{
    if (!role_valid(next_role))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "next role: invalid value %d",
                         (int)next_role);
    bool has_function_tools = false;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].developer && msgs[i].developer->n_functions)
            has_function_tools = true;
    }
    bool last_assistant_final = false;
    for (size_t i = n; i-- > 0;) {
        if (msgs[i].role == HARMONY_ROLE_ASSISTANT) {
            last_assistant_final = streq(msgs[i].channel, "final");
            break;
        }
    }
    size_t first_final = n;
    for (size_t i = 0; i < n && first_final == n; i++) {
        if (streq(msgs[i].channel, "final"))
            first_final = i;
    }
    bool drop = auto_drop_analysis && last_assistant_final;

    size_t mark = out->len;
    for (size_t i = 0; i < n; i++) {
        if (drop && i < first_final && streq(msgs[i].channel, "analysis"))
            continue;
        enum gptoss_status st = harmony_render_message(tok, &msgs[i], has_function_tools, out);
        if (st != GPTOSS_OK) {
            out->len = mark;
            return error_wrap(st, "message %zu: ", i);
        }
    }
    idbuf_push(out, TOKEN_START);
    encode_str(tok, role_names[next_role], out);
    return GPTOSS_OK;
}
