"""Runs the demo model's held-out split through a running `gptoss serve` with the OpenAI SDK.

Every request of tests/data/demo/heldout.jsonl is sent greedily (temperature 0); the reply's
tool_calls (name + JSON arguments), reasoning_content and content are checked as checks.py
describes. Prints per-kind accuracy, a few failures, and a JSON summary as the last line.

  build/gptoss serve --model /tmp/demo-full --port 8190 &
  python3 tools/demo/eval_engine.py --base-url http://127.0.0.1:8190/v1 \
      --heldout tests/data/demo/heldout.jsonl
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, summarize  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-url", default="http://127.0.0.1:8190/v1")
    ap.add_argument("--heldout", default="tests/data/demo/heldout.jsonl")
    ap.add_argument("--model", default=None, help="model name (default: the first /v1/models)")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--show", type=int, default=3, help="failures to print per kind")
    args = ap.parse_args()
    from openai import OpenAI
    client = OpenAI(base_url=args.base_url, api_key=os.environ.get("OPENAI_API_KEY", "x"))
    model = args.model or client.models.list().data[0].id
    rows = [json.loads(line) for line in open(args.heldout)]
    results, shown, invalid = [], {}, 0
    extra = [("What is 2 + 3?", 5)]
    for row in rows:
        req = dict(row["request"])
        r = client.chat.completions.create(model=model, temperature=0, max_tokens=args.max_tokens,
                                           **req)
        ch = r.choices[0]
        msg = ch.message
        reasoning = getattr(msg, "reasoning_content", None) or (msg.model_extra or {}).get(
            "reasoning_content") or (msg.model_extra or {}).get("reasoning") or ""
        calls = [(tc.function.name, tc.function.arguments) for tc in (msg.tool_calls or [])]
        reply = (ch.finish_reason, reasoning, msg.content or "", calls)
        ok = check(row["kind"], row["expect"], reply)
        fr_ok = (ch.finish_reason == "tool_calls") if calls else (ch.finish_reason == "stop")
        if not (reasoning.strip() and fr_ok and (calls or (msg.content or "").strip())):
            invalid += 1
        results.append((row["kind"], ok))
        if not ok and shown.get(row["kind"], 0) < args.show:
            shown[row["kind"]] = shown.get(row["kind"], 0) + 1
            print("FAIL", row["kind"], json.dumps(req["messages"][-1])[:160], row["expect"], "->",
                  ch.finish_reason, repr(reasoning[:120]), repr((msg.content or "")[:120]), calls)
    s = summarize(results)
    for q, ans in extra:
        r = client.chat.completions.create(model=model, temperature=0, max_tokens=args.max_tokens,
                                           messages=[{"role": "user", "content": q}])
        c = r.choices[0].message.content or ""
        print(f"{q!r} -> {c!r}")
        s.setdefault("probes", []).append({"question": q, "answer": c, "finish": r.choices[0].finish_reason})
    s["invalid_replies"] = invalid
    for k, d in s.items():
        if isinstance(d, dict):
            print(f"{k:12s} {d['ok']}/{d['n']} = {d['accuracy']:.3f}")
    print(f"invalid replies (no reasoning, wrong finish_reason or empty answer): {invalid}")
    print(json.dumps(s, ensure_ascii=False))


if __name__ == "__main__":
    main()
