/* cmd_chat.c — generate (one prompt) and chat (a terminal conversation).
 *
 * Both render the conversation with harmony through the same OpenAI-request mapping the server
 * uses, sample until a stop token, and read the sampled tokens with the harmony parser: the
 * analysis channel is the reasoning (dimmed on a terminal), the final channel the answer.
 * A chat keeps one session, so each turn recomputes only what changed since the last.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_TOKENS    1024
#define DEFAULT_MAX_MODEL_LEN 8192
#define DIM                   "\033[2m"
#define RESET                 "\033[0m"

/* Tokens of the end-of-text and end-of-turn specials in o200k_harmony. */
#define TOKEN_ENDOFTEXT 199999
#define TOKEN_RETURN    200002

struct run_settings {
    struct gptoss_sampling sampling;
    uint32_t max_tokens;    /* per reply */
    uint32_t max_model_len; /* per session */
    const char *effort;     /* NULL: medium */
    const char *system;     /* developer instructions, or NULL */
    bool show_reasoning;
    bool color; /* stdout is a terminal */
};

/* What one assistant turn produced. */
struct reply {
    char *reasoning, *answer; /* malloc'd, NUL-terminated */
    size_t n_reasoning, n_answer;
    uint32_t n_tokens;
    bool stopped; /* ended with a stop token, not the length limit */
};

static void text_append(char **s, size_t *n, const char *add, size_t len)
{
    char *bigger = realloc(*s, *n + len + 1);
    if (!bigger) {
        fprintf(stderr, "gptoss: out of memory\n");
        exit(EXIT_FAILURE);
    }
    memcpy(bigger + *n, add, len);
    *n += len;
    bigger[*n] = '\0';
    *s = bigger;
}

static int parse_settings(const struct flags *f, struct run_settings *rs)
{
    memset(rs, 0, sizeof(*rs));
    int rc = cli_parse_sampling(f, &rs->sampling);
    if (rc)
        return rc;
    uint64_t v = DEFAULT_MAX_TOKENS;
    if (f->max_tokens && !flag_u64("--max-tokens", f->max_tokens, 1, 1u << 24, &v))
        return EXIT_USAGE;
    rs->max_tokens = (uint32_t)v;
    v = DEFAULT_MAX_MODEL_LEN;
    if (f->max_model_len && !flag_u64("--max-model-len", f->max_model_len, 1, 1u << 24, &v))
        return EXIT_USAGE;
    rs->max_model_len = (uint32_t)v;
    if (f->effort && strcmp(f->effort, "low") && strcmp(f->effort, "medium") &&
        strcmp(f->effort, "high"))
        return fail_usage("--reasoning-effort must be low, medium or high, got \"%s\"", f->effort);
    rs->effort = f->effort;
    rs->system = f->system;
    rs->show_reasoning = f->show_reasoning;
    rs->color = isatty(STDOUT_FILENO);
    return 0;
}

/* Renders the conversation `messages` (an OpenAI messages array) to a harmony prompt. */
static int render(const struct gptoss_model *model, const struct run_settings *rs, json_t *messages,
                  uint32_t **ids, size_t *n)
{
    json_t *req = json_pack("{s:O}", "messages", messages);
    if (rs->effort)
        json_object_set_new(req, "reasoning_effort", json_string(rs->effort));
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char date[16];
    time_t t = time(NULL);
    struct tm tm;
    strftime(date, sizeof(date), "%Y-%m-%d", localtime_r(&t, &tm));
    struct gptoss_chat_options opts;
    gptoss_chat_options_init(&opts);
    opts.current_date = date;
    enum gptoss_status st =
        gptoss_chat_render(gptoss_model_tokenizer(model), text, strlen(text), &opts, ids, n);
    free(text);
    return st == GPTOSS_OK ? 0 : fail_status("cannot render the conversation");
}

/* Samples one assistant turn after the tokens already in the session, printing as it goes:
 * reasoning (if asked) dimmed, then the answer; tool calls are shown by name. */
static int run_turn(struct gptoss_model *model, struct gptoss_session *session,
                    const struct run_settings *rs, struct reply *out)
{
    memset(out, 0, sizeof(*out));
    struct gptoss_chat_parser *parser;
    if (gptoss_chat_parser_create(gptoss_model_tokenizer(model), &parser) != GPTOSS_OK)
        return fail_status("chat parser");
    const char *shown_channel = NULL;
    bool in_reasoning = false;
    for (;;) {
        uint32_t token = UINT32_MAX;
        bool done = out->n_tokens >= rs->max_tokens;
        if (!done) {
            if (gptoss_session_sample(session, &token) != GPTOSS_OK) {
                gptoss_chat_parser_destroy(parser);
                return fail_status("generation failed");
            }
            out->n_tokens++;
            if (gptoss_model_is_stop(model, token)) {
                out->stopped = true;
                done = true;
            }
        }
        const struct gptoss_chat_event *ev;
        size_t n_ev = gptoss_chat_parser_push(parser, done ? UINT32_MAX : token, &ev);
        for (size_t i = 0; i < n_ev; i++) {
            bool reasoning = ev[i].channel && strcmp(ev[i].channel, "analysis") == 0;
            if (ev[i].type == GPTOSS_CHAT_MESSAGE_START && ev[i].recipient &&
                strncmp(ev[i].recipient, "functions.", 10) == 0)
                printf("%s[calls %s] %s", rs->color ? DIM : "", ev[i].recipient + 10,
                       rs->color ? RESET : "");
            if (ev[i].type != GPTOSS_CHAT_CONTENT)
                continue;
            if (reasoning) {
                text_append(&out->reasoning, &out->n_reasoning, ev[i].text, ev[i].text_len);
                if (!rs->show_reasoning)
                    continue;
                if (!in_reasoning && rs->color)
                    fputs(DIM, stdout);
                in_reasoning = true;
            } else {
                if (in_reasoning) {
                    fputs(rs->color ? RESET "\n\n" : "\n\n", stdout);
                    in_reasoning = false;
                }
                if (!ev[i].recipient)
                    text_append(&out->answer, &out->n_answer, ev[i].text, ev[i].text_len);
            }
            shown_channel = ev[i].channel;
            fwrite(ev[i].text, 1, ev[i].text_len, stdout);
            fflush(stdout);
        }
        if (done)
            break;
        gptoss_session_append(session, &token, 1);
    }
    if (in_reasoning && rs->color)
        fputs(RESET, stdout);
    (void)shown_channel;
    fputc('\n', stdout);
    gptoss_chat_parser_destroy(parser);
    if (!out->stopped)
        fprintf(stderr, "gptoss: stopped after %u tokens (--max-tokens)\n", out->n_tokens);
    return 0;
}

/* --raw: plain continuation of the prompt text, no chat format; stops at <|endoftext|>. */
static int generate_raw(struct gptoss_model *model, struct gptoss_session *session,
                        const char *prompt, const struct run_settings *rs)
{
    const struct gptoss_tokenizer *tok = gptoss_model_tokenizer(model);
    uint32_t *ids;
    size_t n;
    if (gptoss_tokenizer_encode(tok, prompt, strlen(prompt), false, &ids, &n) != GPTOSS_OK)
        return fail_status("cannot tokenize the prompt");
    if (n == 0)
        ids[n++] = TOKEN_ENDOFTEXT; /* an empty prompt starts a fresh document */
    enum gptoss_status st = gptoss_session_append(session, ids, n);
    gptoss_free(ids);
    if (st != GPTOSS_OK)
        return fail_status("prompt");
    uint32_t *out = malloc(rs->max_tokens * sizeof(uint32_t));
    size_t n_out = 0, shown = 0;
    while (out && n_out < rs->max_tokens) {
        uint32_t token;
        if (gptoss_session_sample(session, &token) != GPTOSS_OK) {
            free(out);
            return fail_status("generation failed");
        }
        if (token == TOKEN_ENDOFTEXT || token == TOKEN_RETURN)
            break;
        out[n_out++] = token;
        gptoss_session_append(session, &token, 1);
        /* Print what is new, holding back a trailing U+FFFD: it may be half a character. */
        char *text;
        size_t len;
        if (gptoss_tokenizer_decode(tok, out, n_out, &text, &len) != GPTOSS_OK)
            continue;
        size_t stable = len;
        if (stable >= 3 && memcmp(text + stable - 3, "\xEF\xBF\xBD", 3) == 0)
            stable -= 3;
        if (stable > shown) {
            fwrite(text + shown, 1, stable - shown, stdout);
            fflush(stdout);
            shown = stable;
        }
        gptoss_free(text);
    }
    char *text;
    size_t len;
    if (out && gptoss_tokenizer_decode(tok, out, n_out, &text, &len) == GPTOSS_OK) {
        if (len > shown)
            fwrite(text + shown, 1, len - shown, stdout);
        gptoss_free(text);
    }
    fputc('\n', stdout);
    free(out);
    return 0;
}

static json_t *message(const char *role, const char *content)
{
    return json_pack("{s:s,s:s}", "role", role, "content", content ? content : "");
}

int cmd_generate(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(
        argc, argv, 2,
        "--model --prompt --system --max-tokens --max-model-len --temperature "
        "--top-p --top-k --min-p --presence-penalty --frequency-penalty "
        "--repetition-penalty --seed --show-reasoning --raw --reasoning-effort --threads "
        "--dtype --weights --tensor-parallel-size --distributed-backend",
        &f);
    if (rc)
        return rc;
    if (!f.prompt)
        return fail_usage("generate needs --prompt TEXT");
    struct run_settings rs;
    if ((rc = parse_settings(&f, &rs)))
        return rc;
    struct gptoss_model *model;
    if ((rc = load_model_cli(&f, &model)))
        return rc;
    uint32_t *ids = NULL;
    size_t n = 0;
    json_t *messages = json_array();
    if (!f.raw) {
        if (rs.system)
            json_array_append_new(messages, message("system", rs.system));
        json_array_append_new(messages, message("user", f.prompt));
        rc = render(model, &rs, messages, &ids, &n);
    }
    json_decref(messages);
    struct gptoss_session *session = NULL;
    uint32_t len = (uint32_t)n + rs.max_tokens + (f.raw ? (uint32_t)strlen(f.prompt) + 1 : 0);
    if (!rc && gptoss_session_create(model, len, &rs.sampling, &session) != GPTOSS_OK)
        rc = fail_status("cannot start generating");
    if (!rc && f.raw) {
        rc = generate_raw(model, session, f.prompt, &rs);
    } else if (!rc) {
        struct reply reply;
        if (gptoss_session_append(session, ids, n) != GPTOSS_OK)
            rc = fail_status("prompt");
        else
            rc = run_turn(model, session, &rs, &reply);
        if (!rc && !rs.show_reasoning && reply.n_answer == 0 && reply.n_reasoning)
            fprintf(stderr, "gptoss: the model gave no final answer (reasoning only; "
                            "--show-reasoning prints it)\n");
        if (!rc) {
            free(reply.reasoning);
            free(reply.answer);
        }
    }
    gptoss_free(ids);
    gptoss_session_destroy(session);
    gptoss_model_destroy(model);
    return rc;
}

/* Reads one line from stdin into *line (malloc'd, without the newline); false at end of input. */
static bool read_line(char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, stdin);
    if (n < 0)
        return false;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = '\0';
    return true;
}

int cmd_chat(int argc, char **argv)
{
    struct flags f;
    int rc =
        flags_parse(argc, argv, 2,
                    "--model --system --max-tokens --max-model-len --temperature --top-p "
                    "--top-k --min-p --presence-penalty --frequency-penalty "
                    "--repetition-penalty --seed --reasoning-effort --threads --dtype --weights "
                    "--tensor-parallel-size --distributed-backend",
                    &f);
    if (rc)
        return rc;
    struct run_settings rs;
    if ((rc = parse_settings(&f, &rs)))
        return rc;
    rs.show_reasoning = true;
    struct gptoss_model *model;
    if ((rc = load_model_cli(&f, &model)))
        return rc;
    struct gptoss_session *session;
    if (gptoss_session_create(model, rs.max_model_len, &rs.sampling, &session) != GPTOSS_OK) {
        gptoss_model_destroy(model);
        return fail_status("cannot start the chat");
    }
    bool tty = isatty(STDIN_FILENO);
    if (tty)
        fprintf(stderr, "chatting with %s — /reset starts over, /exit or Ctrl-D leaves\n", f.model);
    json_t *messages = json_array();
    if (rs.system)
        json_array_append_new(messages, message("system", rs.system));
    uint32_t *prev = NULL; /* the tokens the session holds */
    size_t n_prev = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (rc == 0) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!read_line(&line, &line_cap))
            break;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/reset") == 0) {
            json_array_clear(messages);
            if (rs.system)
                json_array_append_new(messages, message("system", rs.system));
            continue;
        }
        if (line[0] == '\0')
            continue;
        json_array_append_new(messages, message("user", line));
        uint32_t *ids;
        size_t n;
        if ((rc = render(model, &rs, messages, &ids, &n)))
            break;
        if (n + rs.max_tokens > rs.max_model_len) {
            fprintf(stderr,
                    "gptoss: the conversation (%zu tokens) no longer fits --max-model-len "
                    "%u; /reset to start over\n",
                    n, rs.max_model_len);
            gptoss_free(ids);
            json_array_remove(messages, json_array_size(messages) - 1);
            continue;
        }
        /* Keep the cached prefix the new prompt shares with what the session holds. */
        size_t same = 0;
        while (same < n_prev && same < n && prev[same] == ids[same])
            same++;
        gptoss_session_truncate(session, same);
        if (gptoss_session_append(session, ids + same, n - same) != GPTOSS_OK) {
            gptoss_free(ids);
            rc = fail_status("prompt");
            break;
        }
        struct reply reply;
        rc = run_turn(model, session, &rs, &reply);
        gptoss_free(prev);
        prev = ids;
        n_prev = n;
        if (rc)
            break;
        json_t *answer = message("assistant", reply.answer ? reply.answer : "");
        if (reply.reasoning)
            json_object_set_new(answer, "reasoning_content", json_string(reply.reasoning));
        json_array_append_new(messages, answer);
        free(reply.reasoning);
        free(reply.answer);
    }
    free(line);
    gptoss_free(prev);
    json_decref(messages);
    gptoss_session_destroy(session);
    gptoss_model_destroy(model);
    return rc;
}
