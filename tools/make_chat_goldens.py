#!/usr/bin/env python3
"""Renders the OpenAI chat requests of tests/data/harmony/chat_requests.json with openai-harmony.

Each request is mapped onto openai-harmony's own objects by the rules documented in
src/server/openai_chat.h (written out again here, independently of the C code), then rendered
with render_conversation_for_completion(conversation, Role.ASSISTANT). The output,
tests/data/harmony/chat_goldens.json, is what `gptoss tokenize --chat` must reproduce id for id.

The vocabulary is read offline from tests/data/tokenizer (tools/harmony_offline.py).
"""
import argparse
import json
import os
import sys

from harmony_offline import ROOT, harmony_encoding


def content_text(content):
    """A message content (string or text parts) as one string; None stays None."""
    if content is None or isinstance(content, str):
        return content
    return "".join(part.get("text", part.get("refusal", "")) for part in content)


def to_messages(request, options):
    """The harmony messages for one request, following src/server/openai_chat.h."""
    from openai_harmony import (Author, DeveloperContent, Message, ReasoningEffort, Role,
                                SystemContent, ToolDescription)

    efforts = {"low": ReasoningEffort.LOW, "minimal": ReasoningEffort.LOW,
               "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
    system = SystemContent.new()
    if options.get("identity") is not None:
        system = system.with_model_identity(options["identity"])
    if options.get("cutoff") is not None:
        system = system.with_knowledge_cutoff(options["cutoff"])
    if options.get("date") is not None:
        system = system.with_conversation_start_date(options["date"])
    effort = request.get("reasoning_effort") or options.get("effort", "medium")
    system = system.with_reasoning_effort(efforts[effort])

    tools = request.get("tools") or []
    if request.get("tool_choice") == "none":
        tools = []
    builtin = {t["type"] for t in tools}
    if builtin & {"browser", "web_search", "web_search_preview"}:
        system = system.with_browser_tool()
    if builtin & {"python", "code_interpreter"}:
        system = system.with_python_tool()
    tools = [t for t in tools if t["type"] == "function"]
    messages = request["messages"]
    leading = 0
    while leading < len(messages) and messages[leading]["role"] in ("system", "developer"):
        leading += 1
    instructions = "\n\n".join(
        t for t in (content_text(m.get("content")) for m in messages[:leading]) if t)

    out = [Message.from_role_and_content(Role.SYSTEM, system)]
    if instructions or tools:
        dev = DeveloperContent.new()
        if instructions:
            dev = dev.with_instructions(instructions)
        if tools:
            dev = dev.with_function_tools([
                ToolDescription.new(t["function"]["name"], t["function"].get("description") or "",
                                    parameters=t["function"].get("parameters"))
                for t in tools])
        out.append(Message.from_role_and_content(Role.DEVELOPER, dev))

    calls = {}
    for m in messages[leading:]:
        role = m["role"]
        if role in ("system", "developer"):
            dev = DeveloperContent.new().with_instructions(content_text(m.get("content")) or "")
            out.append(Message.from_role_and_content(Role.DEVELOPER, dev))
        elif role == "user":
            out.append(Message.from_role_and_content(Role.USER, content_text(m["content"])))
        elif role == "assistant":
            reasoning = m.get("reasoning_content")
            if reasoning is None:
                reasoning = m.get("reasoning")
            content = content_text(m.get("content"))
            tool_calls = m.get("tool_calls") or []
            if reasoning is not None:
                out.append(Message.from_role_and_content(Role.ASSISTANT, reasoning)
                           .with_channel("analysis"))
            if content or (reasoning is None and not tool_calls):
                channel = "commentary" if tool_calls else "final"
                out.append(Message.from_role_and_content(Role.ASSISTANT, content or "")
                           .with_channel(channel))
            for call in tool_calls:
                fn = call["function"]
                args = fn.get("arguments")
                if isinstance(args, (dict, list)):
                    args = json.dumps(args, separators=(",", ":"))
                calls[call.get("id")] = fn["name"]
                out.append(Message.from_role_and_content(Role.ASSISTANT, args or "")
                           .with_channel("commentary")
                           .with_recipient("functions." + fn["name"])
                           .with_content_type("<|constrain|>json"))
        elif role in ("tool", "function"):
            name = m.get("name") or calls[m["tool_call_id"]]
            out.append(Message.from_author_and_content(Author.new(Role.TOOL, "functions." + name),
                                                       content_text(m.get("content")) or "")
                       .with_recipient("assistant").with_channel("commentary"))
        else:
            raise ValueError(f"unknown role {role}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=os.path.join(ROOT, "tests/data/harmony/chat_requests.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/harmony/chat_goldens.json"))
    args = ap.parse_args()

    from openai_harmony import Conversation, Role

    enc = harmony_encoding()
    cases = json.load(open(args.cases, encoding="utf-8"))
    goldens = []
    for case in cases:
        msgs = to_messages(case["request"], case["options"])
        ids = enc.render_conversation_for_completion(Conversation.from_messages(msgs),
                                                     Role.ASSISTANT)
        goldens.append({"name": case["name"], "options": case["options"],
                        "request": case["request"], "ids": ids,
                        "text": enc.decode_utf8(ids)})
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i, g in enumerate(goldens):
            f.write(json.dumps(g, ensure_ascii=False))
            f.write(",\n" if i + 1 < len(goldens) else "\n")
        f.write("]\n")
    print(f"{len(goldens)} chat goldens -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
