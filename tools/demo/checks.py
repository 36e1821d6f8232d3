"""The held-out checks (tests/data/demo/heldout.jsonl), shared by eval_torch.py and eval_engine.py.

A reply is (finish_reason, reasoning, content, tool_calls) where tool_calls is a list of
(name, arguments string). Every reply must be valid: a tool call (finish_reason "tool_calls",
non-empty reasoning) or a final answer (finish_reason "stop", non-empty reasoning and content).

  tool_call    exactly the expected function, arguments parse as JSON and equal expect.arguments
  arithmetic   the final answer's LAST integer (optionally negative) equals expect.answer
  tool_answer  the final answer contains every string of expect.contains
  instruction / chat: each key of expect must hold:
      answer        the last integer equals it        contains_any  one of the strings occurs
      only_number   the answer is just that integer    one_word      one word (punctuation aside)
      uppercase     has letters, none lowercase        starts_with   the answer starts with it
"""
import json
import re


def last_int(text):
    m = re.findall(r"-?\d+", text or "")
    return int(m[-1]) if m else None


def valid(reply, kind):
    finish, reasoning, content, calls = reply
    if not reasoning or not reasoning.strip():
        return False
    if calls:
        return finish == "tool_calls"
    return finish == "stop" and bool(content and content.strip())


def check(kind, expect, reply):
    finish, reasoning, content, calls = reply
    if not valid(reply, kind):
        return False
    if kind == "tool_call":
        if len(calls) != 1 or calls[0][0] != expect["name"]:
            return False
        try:
            return json.loads(calls[0][1]) == expect["arguments"]
        except ValueError:
            return False
    if calls:
        return False
    text = content.strip()
    if kind == "arithmetic":
        return last_int(text) == expect["answer"]
    if kind == "tool_answer":
        return all(s in text for s in expect["contains"])
    ok = True
    if "answer" in expect:
        ok &= last_int(text) == expect["answer"]
    if "only_number" in expect:
        ok &= re.fullmatch(r"-?\d+\.?", text) is not None
    if "contains_any" in expect:
        ok &= any(s in text for s in expect["contains_any"])
    if "one_word" in expect:
        ok &= len(re.sub(r"[^\w\s'-]", "", text).split()) == 1
    if "uppercase" in expect:
        ok &= any(c.isalpha() for c in text) and text == text.upper()
    if "starts_with" in expect:
        ok &= text.startswith(expect["starts_with"])
    return bool(ok)


def summarize(results):
    """results: list of (kind, ok) -> per-kind accuracy dict."""
    out = {}
    for kind, ok in results:
        d = out.setdefault(kind, {"n": 0, "ok": 0})
        d["n"] += 1
        d["ok"] += int(ok)
    for d in out.values():
        d["accuracy"] = round(d["ok"] / d["n"], 4)
    n = sum(d["n"] for d in out.values())
    out["all"] = {"n": n, "ok": sum(d["ok"] for k, d in out.items() if k != "all"),
                  "accuracy": round(sum(ok for _, ok in results) / max(1, n), 4)}
    return out
