"""`gptoss tokenize --chat` equals openai-harmony on the committed chat goldens."""
import json
import os

import pytest

from conftest import DATA, VOCAB

with open(os.path.join(DATA, "harmony", "chat_goldens.json"), encoding="utf-8") as _f:
    GOLDENS = json.load(_f)


def chat_args(options):
    args = ["tokenize", "--chat", "--tokenizer", VOCAB, "--date", options.get("date") or "none"]
    for key, flag in (("effort", "--reasoning-effort"), ("identity", "--model-identity"),
                      ("cutoff", "--knowledge-cutoff")):
        if options.get(key) is not None:
            args += [flag, options[key]]
    return args


def test_enough_goldens():
    assert len(GOLDENS) >= 30
    efforts = {g["request"].get("reasoning_effort") for g in GOLDENS}
    assert {"low", "medium", "high"} <= efforts


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
def test_chat_prompt_equals_openai_harmony(run, golden):
    p = run(chat_args(golden["options"]), json.dumps(golden["request"]).encode())
    assert p.returncode == 0, p.stderr.decode()
    ids = json.loads(p.stdout)
    if ids != golden["ids"]:
        back = run(["detokenize", "--tokenizer", VOCAB], p.stdout).stdout.decode()
        pytest.fail(f"prompt differs\nours:\n{back}\nopenai-harmony:\n{golden['text']}")


def test_date_defaults_to_today(run):
    import datetime
    req = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    p = run(["tokenize", "--chat", "--tokenizer", VOCAB], req)
    text = run(["detokenize", "--tokenizer", VOCAB], p.stdout).stdout.decode()
    today = datetime.date.today().isoformat()
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    assert f"Current date: {today}" in text or f"Current date: {yesterday}" in text


@pytest.mark.parametrize("body,needle", [
    (b"{not json", "invalid chat request: request JSON"),
    (b'{"messages": []}', "messages must be a non-empty array"),
    (b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
     "messages[0].content[0]"),
    (b'{"messages": [{"role": "tool", "tool_call_id": "x", "content": "1"}]}',
     "messages[0].tool_call_id"),
])
def test_bad_requests_name_the_field(run, body, needle):
    p = run(["tokenize", "--chat", "--tokenizer", VOCAB], body)
    assert p.returncode == 1
    assert needle in p.stderr.decode()
