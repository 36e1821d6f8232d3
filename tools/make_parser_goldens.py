#!/usr/bin/env python3
"""make_parser_goldens.py — writes tests/data/harmony/parser_goldens.json.

The streaming harmony parser (src/harmony/parser.c) must yield exactly the messages that
openai-harmony's StreamableParser yields on well-formed completions. This script builds
completions (rendered assistant messages, hand-written token streams in the header orders the
model really emits, multi-byte and invalid UTF-8 content) and records what openai-harmony parses
from them, fed one token at a time and then process_eos(). Every case is checked to parse the
same way through parse_messages_from_completion_tokens(); cases marked strict=True also parse
identically in harmony's strict and non-strict modes, strict=False cases only in non-strict mode.

Usage: tools/make_parser_goldens.py  (needs the openai-harmony package; the vocabulary is read
offline from tests/data/tokenizer, see tools/harmony_offline.py)
"""
import base64
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "harmony", "parser_goldens.json")

import harmony_offline  # noqa: E402,F401  (before openai_harmony: offline vocabulary)

from openai_harmony import (  # noqa: E402
    Author,
    HarmonyEncodingName,
    Message,
    Role,
    StreamableParser,
    load_harmony_encoding,
)

enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)

START, END, RETURN, CALL = 200006, 200007, 200002, 200012
ASSISTANT_PREFIX = enc.encode("<|start|>assistant", allowed_special="all")


def byte_token_ids():
    """Maps each single byte to its token id (the rank of that one-byte token in o200k)."""
    path = os.path.join(os.environ["TIKTOKEN_ENCODINGS_BASE"], "o200k_base.tiktoken")
    ids = {}
    with open(path, "rb") as f:
        for line in f:
            tok, rank = line.split()
            raw = base64.b64decode(tok)
            if len(raw) == 1:
                ids[raw[0]] = int(rank)
    assert len(ids) == 256
    return ids


BYTE_ID = byte_token_ids()


def text(s):
    return enc.encode(s, allowed_special="all")


def ordinary(s):
    return enc.encode(s, allowed_special=set(), disallowed_special=())


def raw_bytes(*bs):
    return [BYTE_ID[b] for b in bs]


def msg(role, content, channel=None, recipient=None, content_type=None):
    m = Message.from_role_and_content(role, content)
    if channel is not None:
        m = m.with_channel(channel)
    if recipient is not None:
        m = m.with_recipient(recipient)
    if content_type is not None:
        m = m.with_content_type(content_type)
    return m


def render(*msgs, last=None):
    """Renders messages back to back; `last` replaces the final terminator (e.g. <|return|>)."""
    ids = []
    for m in msgs:
        ids += enc.render(m)
    if last is not None:
        ids[-1] = last
    return ids


def completion(ids):
    """Drops the "<|start|>assistant" a completion prompt already ends with."""
    assert ids[:2] == ASSISTANT_PREFIX, ids[:2]
    return ids[2:]


def splits_mid_character(ids):
    """True when some token boundary falls inside a UTF-8 character."""
    for i in ids:
        if i >= 199998:
            continue
        try:
            enc._inner.decode_bytes([i]).decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


def to_record(m):
    d = m.to_dict()
    return {
        "role": str(d["role"].value) if hasattr(d["role"], "value") else d["role"],
        "name": d.get("name"),
        "recipient": d.get("recipient"),
        "channel": d.get("channel"),
        "content_type": d.get("content_type"),
        "content": "".join(c["text"] for c in d["content"]),
    }


def parse_stream(tokens, role, strict):
    p = StreamableParser(enc, role, strict=strict)
    for t in tokens:
        p.process(t)
    p.process_eos()
    return [to_record(m) for m in p.messages]


CASES = []


def case(name, tokens, assistant_started=True, strict=True, must_split=False):
    role = Role.ASSISTANT if assistant_started else None
    lenient = parse_stream(tokens, role, False)
    if strict:
        assert parse_stream(tokens, role, True) == lenient, name
    whole = enc.parse_messages_from_completion_tokens(tokens, role, strict=strict)
    assert [to_record(m) for m in whole] == lenient, name
    if must_split:
        assert splits_mid_character(tokens), name
    assert all(c["name"] != name for c in CASES), name
    CASES.append({"name": name, "assistant_started": assistant_started, "strict": strict,
                  "tokens": tokens, "messages": lenient})


A = Role.ASSISTANT
WEATHER = '{"location": "Tokyo", "unit": "celsius"}'

# ---- rendered assistant turns ----------------------------------------------------------------
case("analysis_then_final_return", completion(render(
    msg(A, "User asks 2+2. Simple arithmetic: 4.", "analysis"),
    msg(A, "2 + 2 = 4.", "final"), last=RETURN)))
case("final_only_return", completion(render(msg(A, "Hello! How can I help you today?", "final"),
                                           last=RETURN)))
case("final_only_end", completion(render(msg(A, "Done.", "final"))))
case("analysis_only", completion(render(msg(A, "We need to think about this carefully.",
                                            "analysis"))))
case("tool_call_rendered_order", completion(render(
    msg(A, "Need weather; call the function.", "analysis"),
    msg(A, WEATHER, "commentary", "functions.get_weather", "<|constrain|>json"))))
case("tool_call_plain_json_type", completion(render(
    msg(A, WEATHER, "commentary", "functions.get_weather", "json"))))
case("tool_call_code_type", completion(render(
    msg(A, "import math\nprint(math.sqrt(2))", "commentary", "functions.run", "code"))))
case("browser_search_analysis", completion(render(
    msg(A, "Search for the latest release.", "analysis"),
    msg(A, '{"query": "gpt-oss release date", "topn": 5}', "analysis", "browser.search",
        "code"))))
case("browser_open_commentary", completion(render(
    msg(A, '{"id": 3, "cursor": 1}', "commentary", "browser.open", "code"))))
case("python_analysis", completion(render(
    msg(A, "print(sum(range(10)))", "analysis", "python", "code"))))
case("python_no_content_type", completion(render(
    msg(A, "x = [i * i for i in range(5)]\nx", "analysis", "python"))))
case("preamble_then_tool_call", completion(render(
    msg(A, "Let me check the weather for you.", "commentary"),
    msg(A, WEATHER, "commentary", "functions.get_weather", "<|constrain|>json"))))
case("three_messages", completion(render(
    msg(A, "Plan: greet, then answer.", "analysis"),
    msg(A, "Working on it…", "commentary"),
    msg(A, "# Answer\n\n- one\n- two\n\n```c\nint main(void) { return 0; }\n```\n", "final"),
    last=RETURN)))
case("empty_final", completion(render(msg(A, "", "final"), last=RETURN)))
case("empty_analysis_then_final", completion(render(
    msg(A, "", "analysis"), msg(A, "ok", "final"), last=RETURN)))
case("whitespace_content", completion(render(msg(A, "\n\n  \t\n", "final"))))
case("content_with_end_text", completion(render(
    msg(A, "The terminator is written <|end|> and <|return|>; <|channel|>x<|message|>.",
        "final"), last=RETURN)))
case("no_channel", completion(render(msg(A, "plain answer"))))
case("custom_channel", completion(render(msg(A, "note", "scratchpad"))))

# ---- multi-byte content ----------------------------------------------------------------------
case("cjk", completion(render(msg(A, "你好，世界。今日は良い天気ですね。안녕하세요.", "final"),
                              last=RETURN)))
case("accented", completion(render(msg(A, "Ça a été un café crème à Zürich, naïve façade.",
                                       "final"), last=RETURN)))
case("emoji_zwj_split", completion(render(
    msg(A, "Team: 👩‍👩‍👧‍👦 🧑🏽‍🚀 👋🏾 🇯🇵 ❤️‍🔥", "final"), last=RETURN)), must_split=True)
case("rare_cjk_split", completion(render(msg(A, "𠮷野家 龘靐齉 ⱥⱦ Ꙥ", "final"), last=RETURN)),
     must_split=True)
case("mixed_scripts_split", completion(render(
    msg(A, "Привет, שלום, مرحبا, नमस्ते, 🙂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᚠᛇᚻ", "analysis"),
    msg(A, "Done 𓀀𓁐.", "final"), last=RETURN)), must_split=True)
case("split_char_in_tool_args", completion(render(
    msg(A, '{"city": "𠮷野家 龘"}', "commentary", "functions.lookup", "<|constrain|>json"))),
    must_split=True)

# ---- headers in the orders the model emits ---------------------------------------------------
case("model_order_channel_then_recipient", text(
    "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
    + WEATHER + "<|call|>"))
case("model_order_no_space_before_constrain", text(
    "<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>"
    + WEATHER + "<|call|>"))
case("recipient_first_no_space_before_constrain", text(
    " to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>"
    + WEATHER + "<|call|>"))
case("recipient_first_plain_json", text(
    " to=functions.get_weather<|channel|>commentary json<|message|>" + WEATHER + "<|call|>"))
case("model_order_plain_json", text(
    "<|channel|>commentary to=functions.get_weather json<|message|>" + WEATHER + "<|call|>"))
case("model_order_browser_code", text(
    "<|channel|>analysis to=browser.search code<|message|>"
    '{"query": "weather Tokyo"}<|call|>'))
case("model_order_commentary_browser", text(
    "<|channel|>commentary to=browser.find code<|message|>{\"pattern\": \"Tokyo\"}<|call|>"))
case("model_order_python_no_type", text(
    "<|channel|>analysis to=python<|message|>print('hi')<|call|>"))
case("recipient_without_to", text(
    " functions.get_weather<|channel|>commentary<|message|>{}<|call|>"))
case("header_unicode_whitespace", text(
    "<|channel|>final\u00a0\u2003<|message|>nbsp\u00a0kept<|return|>"))
case("recipient_with_nbsp_and_tab", text(
    " to=functions.f\u00a0json\t<|channel|>commentary\n<|message|>{}<|call|>"))
case("header_tabs_and_newlines", text(
    "<|channel|>commentary\tto=functions.f\njson<|message|>{}<|call|>"))
case("vertical_tab_not_a_separator", text(
    "<|channel|>commentary to=functions.f\x0bjson<|message|>{}<|call|>"))
case("role_word_repeated", text("assistant<|channel|>final<|message|>Hi.<|return|>"))
case("full_turn_after_analysis", text(
    "<|channel|>analysis<|message|>Need to call the tool.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    "<|message|>" + WEATHER + "<|call|>"))
case("model_order_after_preamble", text(
    "<|channel|>commentary<|message|>Checking…<|end|><|start|>assistant<|channel|>commentary"
    " to=functions.search<|constrain|>json<|message|>{\"q\": \"x\"}<|call|>"))

# ---- completions cut short (process_eos) -----------------------------------------------------
cut = completion(render(msg(A, "This answer is cut off in the middle of a sentence", "final")))
case("cut_mid_content", cut[:-4])
split = completion(render(msg(A, "Cut inside 𠮷", "final")))
case("cut_mid_character", split[:-3], must_split=True)
case("eos_after_end", completion(render(msg(A, "finished", "analysis"))))

# ---- invalid UTF-8 byte tokens ---------------------------------------------------------------
PRE = text("<|channel|>final<|message|>")
case("invalid_byte_80", PRE + ordinary("A") + raw_bytes(0x80) + ordinary("B") + [RETURN])
case("invalid_byte_ff", PRE + ordinary("x") + raw_bytes(0xFF, 0xFE) + ordinary(" y") + [RETURN])
case("truncated_3byte_then_ascii", PRE + raw_bytes(0xE4, 0xB8) + ordinary("a") + [END])
case("truncated_4byte_at_end", PRE + ordinary("z") + raw_bytes(0xF0, 0x9F, 0x98) + [END])
case("overlong_and_surrogate", PRE + raw_bytes(0xC0, 0x80, 0xED, 0xA0, 0x80)
     + ordinary("ok") + raw_bytes(0xF4, 0x90, 0x80, 0x80) + [END])
case("truncated_then_valid_multibyte", PRE + raw_bytes(0xF0, 0x9F) + ordinary("€漢")
     + raw_bytes(0xE2, 0x82, 0xAC) + [RETURN])
case("invalid_bytes_cut_short", PRE + ordinary("end ") + raw_bytes(0xE2, 0x82))
case("invalid_in_tool_args", text("<|channel|>commentary to=functions.f <|constrain|>json"
                                  "<|message|>") + ordinary('{"a": "') + raw_bytes(0xFF)
     + ordinary('"}') + [CALL])

# ---- whole conversations parsed without a preset role ----------------------------------------
case("tool_result_message", text(
    "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
    '{"temperature": 20, "sky": "clear"}<|end|>'), assistant_started=False)
case("tool_result_no_channel", text(
    "<|start|>browser.search to=assistant<|message|>[1] result page<|end|>"),
    assistant_started=False)
case("conversation_with_tool_round_trip", render(
    msg(Role.USER, "What's the weather in Tokyo?"),
    msg(A, "Need to call get_weather.", "analysis"),
    msg(A, WEATHER, "commentary", "functions.get_weather", "<|constrain|>json"),
    Message.from_author_and_content(
        Author.new(Role.TOOL, "functions.get_weather"),
        '{"temperature": 20}').with_channel("commentary").with_recipient("assistant"),
    msg(A, "It is 20 °C and clear in Tokyo.", "final")), assistant_started=False)
case("system_and_developer_text", render(
    msg(Role.SYSTEM, "You are a helpful assistant."),
    msg(Role.DEVELOPER, "# Instructions\n\nAnswer in French."),
    msg(Role.USER, "Bonjour ! Ça va ?")), assistant_started=False)
case("start_assistant_explicit", text(
    "<|start|>assistant<|channel|>final<|message|>explicit start<|return|>"),
    assistant_started=False)
case("tool_role_word", text("<|start|>tool to=assistant<|message|>done<|end|>"),
     assistant_started=False)

# ---- harmony's non-strict recovery (a header that meets a terminator) ------------------------
case("nonstrict_text_without_header", text(
    "I must refuse<|end|><|start|>assistant<|channel|>final<|message|>Sorry.<|return|>"),
    strict=False)
case("nonstrict_channel_without_message", text(
    "<|channel|>analysis I must   refuse\nnow<|end|>"
    "<|start|>assistant<|channel|>final<|message|>No.<|return|>"), strict=False)
case("nonstrict_text_then_tool_call", text(
    "... Let's use the tool.<|end|><|start|>assistant to=functions.get_weather"
    "<|channel|>commentary json<|message|>" + WEATHER + "<|call|>"), strict=False)


def main():
    assert len(CASES) >= 40, len(CASES)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    doc = {
        "source": "openai-harmony StreamableParser, generated by tools/make_parser_goldens.py",
        "cases": CASES,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(CASES)} cases to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
