#!/usr/bin/env python3
"""make_render_goldens.py — writes tests/data/harmony/render_goldens.json.

The harmony renderer (src/harmony/render.c, schema.c, builtin.c) must produce exactly the ids
openai-harmony's render_conversation_for_completion() produces. This script reads the
conversations described in tests/data/harmony/render_cases.json, builds each one with the
openai-harmony Python package and records the rendered ids (and their text, for readers) next
to the case. test_harmony_render renders the same cases in C and compares ids.

Case format (every key but "name" and "messages" optional):
  {"name", "next_role": "assistant", "auto_drop_analysis": true, "messages": [
     {"role", "name", "recipient", "channel", "content_type", and one of
      "text": "...",
      "system": {"model_identity", "knowledge_cutoff", "current_date",
                 "reasoning_effort": "low"|"medium"|"high"|null,
                 "tools": ["browser" | "python" | {"name", "description", "tools": [TOOL]}],
                 "channels": {"valid": [...], "required": bool} | null},
      "developer": {"instructions", "tools": [TOOL]}}]}
  TOOL = {"name", "description", "parameters": <JSON schema>}
A system key that is absent keeps harmony's default; null removes that part.

Usage: tools/make_render_goldens.py  (needs the openai-harmony package; the vocabulary is read
offline from tests/data/tokenizer, see tools/harmony_offline.py)
"""
import importlib.metadata
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "data", "harmony", "render_cases.json")
OUT = os.path.join(ROOT, "tests", "data", "harmony", "render_goldens.json")

import harmony_offline  # noqa: E402,F401  (before openai_harmony: offline vocabulary)

from openai_harmony import (  # noqa: E402
    Author,
    ChannelConfig,
    Conversation,
    DeveloperContent,
    HarmonyEncodingName,
    Message,
    ReasoningEffort,
    RenderConversationConfig,
    Role,
    SystemContent,
    TextContent,
    ToolDescription,
    ToolNamespaceConfig,
    load_harmony_encoding,
)

enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)

EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM,
           "high": ReasoningEffort.HIGH, None: None}
SYSTEM_KEYS = {"model_identity", "knowledge_cutoff", "current_date", "reasoning_effort", "tools",
               "channels"}
MESSAGE_KEYS = {"role", "name", "recipient", "channel", "content_type", "text", "system",
                "developer"}


def tool(t):
    return ToolDescription.new(t["name"], t["description"], t.get("parameters"))


def namespace(ns):
    if ns == "browser":
        return ToolNamespaceConfig.browser()
    if ns == "python":
        return ToolNamespaceConfig.python()
    return ToolNamespaceConfig(name=ns["name"], description=ns.get("description"),
                               tools=[tool(t) for t in ns["tools"]])


def system_content(s):
    unknown = set(s) - SYSTEM_KEYS
    if unknown:
        sys.exit(f"unknown system keys {unknown}")
    c = SystemContent.new()
    if "model_identity" in s:
        c.model_identity = s["model_identity"]
    if "knowledge_cutoff" in s:
        c.knowledge_cutoff = s["knowledge_cutoff"]
    if "current_date" in s:
        c.conversation_start_date = s["current_date"]
    if "reasoning_effort" in s:
        c.reasoning_effort = EFFORTS[s["reasoning_effort"]]
    for ns in s.get("tools", []):
        c = c.with_tools(namespace(ns))
    if "channels" in s:
        ch = s["channels"]
        c.channel_config = None if ch is None else ChannelConfig(
            valid_channels=ch["valid"], channel_required=ch["required"])
    return c


def developer_content(d):
    c = DeveloperContent.new()
    if "instructions" in d:
        c = c.with_instructions(d["instructions"])
    if "tools" in d:
        # harmony renders an empty functions namespace; the C API has no way to ask for one.
        if not d["tools"]:
            sys.exit("developer tools must not be empty")
        c = c.with_function_tools([tool(t) for t in d["tools"]])
    return c


def message(m):
    unknown = set(m) - MESSAGE_KEYS
    if unknown:
        sys.exit(f"unknown message keys {unknown}")
    if "system" in m:
        content = system_content(m["system"])
    elif "developer" in m:
        content = developer_content(m["developer"])
    else:
        content = TextContent(text=m["text"])
    msg = Message.from_author_and_content(Author(role=Role(m["role"]), name=m.get("name")),
                                          content)
    msg.channel = m.get("channel")
    msg.recipient = m.get("recipient")
    msg.content_type = m.get("content_type")
    return msg


def render(case):
    conv = Conversation.from_messages([message(m) for m in case["messages"]])
    config = RenderConversationConfig(auto_drop_analysis=case.get("auto_drop_analysis", True))
    return enc.render_conversation_for_completion(conv, Role(case.get("next_role", "assistant")),
                                                  config)


def main():
    with open(CASES, encoding="utf-8") as f:
        cases = json.load(f)
    names = [c["name"] for c in cases]
    if len(set(names)) != len(names):
        sys.exit("case names must be unique")
    out = []
    ids_text = []
    for i, case in enumerate(cases):
        ids = render(case)
        ids_text.append(json.dumps(ids))
        out.append({**case, "text": enc.decode_utf8(ids), "ids": f"@IDS{i}@"})
    doc = {
        "generator": "tools/make_render_goldens.py",
        "openai_harmony": importlib.metadata.version("openai-harmony"),
        "cases": out,
    }
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    # One line of ids per case keeps the file readable and its diffs small.
    for i, ids in enumerate(ids_text):
        text = text.replace(f'"@IDS{i}@"', ids, 1)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {len(out)} cases to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
