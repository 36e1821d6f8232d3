"""The built-in web chat UI in a real browser (Playwright driving Debian's Chromium), against real
`gptoss serve` processes on the scripted checkpoint (scripted_model.py: every reply is a short
analysis message, then a final answer that repeats one sentence until max_tokens).

What is checked is what a user sees: a streamed reply under a Thinking block, Stop, history kept
in IndexedDB across reloads, export and import, themes, settings and the API key, the status
panel, errors in plain words, the keyboard, a phone-sized screen, and that the page never talks
to anything but its own server. The screenshots of the main states go to GPTOSS_SCREENSHOT_DIR
(default build/screenshots) for people to look at.

Synchronisation is by Playwright's waiting assertions with generous timeouts: the suite also
runs against an AddressSanitizer build, several times slower.
"""
import json
import os
import re
import signal

import pytest

from conftest import ROOT, require_demo_model
from scripted_model import ANALYSIS_TEXT, FINAL_TEXT
from server_fixture import Server, serving, wait_until

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the `browser` fixture, with what to install
    sync_playwright = None

CHROMIUM = os.environ.get("GPTOSS_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("GPTOSS_SCREENSHOT_DIR", os.path.join(ROOT, "build", "screenshots"))
TIMEOUT_MS = 90_000     # one waiting assertion; an AddressSanitizer build on a busy machine is slow
SETTLE_S = 60           # how long the server may take to notice an abort
API_KEY = "webui-test-key"
FINAL_START = FINAL_TEXT.split(".")[0]  # "Hello! This is a streamed reply from the test model"
SHORT = 60              # max tokens of a reply that is waited for
LONG = 4000             # max tokens of a reply that is stopped long before it ends


# ---- Fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.skip("the Python package playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} does not exist: install Debian's chromium package "
                    "(apt-get install chromium) or set GPTOSS_CHROMIUM")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("webui-logs")


@pytest.fixture(scope="module")
def server(gptoss_bin, scripted, log_dir):
    # A small KV cache so that one reply is a visible share of it in the status panel.
    with serving(gptoss_bin, scripted, "--max-model-len", 8192, "--kv-cache-memory", "64M",
                 log_dir=log_dir, name="webui") as srv:
        yield srv


@pytest.fixture(scope="module")
def shots():
    os.makedirs(SHOTS, exist_ok=True)
    return SHOTS


def origin(srv):
    return f"http://127.0.0.1:{srv.port}"


@pytest.fixture
def open_page(browser):
    """open_page(srv, width=1280, height=800, scheme="light", max_tokens=SHORT, context=None)
    -> a page on srv's UI in a new browser context (its own IndexedDB and localStorage) unless
    one is given. Uncaught script errors in any page fail the test."""
    contexts, errors = [], []

    def _open(srv, width=1280, height=800, scheme="light", max_tokens=SHORT, context=None,
              init_script=None):
        if context is None:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          color_scheme=scheme, accept_downloads=True)
            contexts.append(context)
            # Settings as a user would have saved them, unless the test saves others.
            settings = json.dumps({"maxTokens": max_tokens})
            context.add_init_script(
                "if (!localStorage.getItem('gptoss.settings'))"
                f" localStorage.setItem('gptoss.settings', {json.dumps(settings)});")
            if init_script:
                context.add_init_script(init_script)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(origin(srv) + "/")
        expect(page.locator("html[data-ready=true]")).to_have_count(1)
        return page

    yield _open
    for c in contexts:
        c.close()
    assert not errors, f"script errors in the page: {errors}"


def send(page, text):
    page.get_by_test_id("input").fill(text)
    page.get_by_test_id("input").press("Enter")


def last_reply(page):
    return page.get_by_test_id("message-assistant").last


def wait_finished(page):
    """Waits until no reply is being generated and the last one shows its figures."""
    expect(page.get_by_test_id("stop")).to_be_hidden()
    expect(page.get_by_test_id("send")).to_be_visible()
    expect(last_reply(page).get_by_test_id("message-stats")).to_be_visible()


def wait_answer_has_text(page, n=len(FINAL_TEXT) + 5):
    page.wait_for_function(
        """n => { const a = [...document.querySelectorAll('[data-testid=answer]')].pop();
                  return a && a.textContent.length >= n; }""", arg=n, timeout=TIMEOUT_MS)


def stopped_early(reply):
    """The stopped reply has far fewer than LONG tokens: Stop ended it, not max_tokens."""
    text = reply.get_by_test_id("stat-completion").inner_text()
    n = int(re.match(r"([\d,]+) completion tokens", text).group(1).replace(",", ""))
    return 0 < n < LONG // 2


def server_idle(srv):
    """True once the server runs no request and holds no KV block (its /status says so)."""
    status, st = srv.json("GET", "/status", timeout=30)
    return status == 200 and st["requests"]["running"] == 0 and \
        st["requests"]["waiting"] == 0 and st["kv_cache"]["blocks_used"] == 0


# Records what the last reply looks like at every change of the conversation's DOM, so that a
# test can tell what was on screen while the reply streamed however fast the server is.
RECORDER = """() => {
  window.__samples = [];
  const box = document.querySelector('[data-testid=messages]');
  const take = () => {
    const a = [...box.querySelectorAll('[data-testid=message-assistant]')].pop();
    if (!a) return;
    const th = a.querySelector('[data-testid=thinking]');
    const body = a.querySelector('[data-testid=thinking-body]');
    const ans = a.querySelector('[data-testid=answer]');
    window.__samples.push({
      generating: !document.querySelector('[data-testid=stop]').hidden,
      thinking: th && !th.hidden ? body.textContent.length : 0,
      open: !!(th && th.open),
      answer: ans ? ans.textContent.length : 0,
    });
  };
  new MutationObserver(take).observe(box, {subtree: true, childList: true, characterData: true,
                                           attributes: true});
}"""


# Paces the server's real SSE events at one per 40 ms inside the page. The release server
# writes the dozen analysis tokens in a few milliseconds, which a busy machine's browser may
# paint in a single frame; paced, each event gets its own frames, so what the user would see
# between "thinking" and "answering" on a slower model is on screen long enough to check.
PACE_EVENTS = """
(() => {
  const realFetch = window.fetch;
  window.fetch = async (...args) => {
    const resp = await realFetch(...args);
    const url = String((args[0] && args[0].url) || args[0]);
    if (!url.includes('/v1/chat/completions') || !resp.ok || !resp.body) return resp;
    const reader = resp.body.getReader();
    const dec = new TextDecoder(), enc = new TextEncoder();
    let buf = '';
    const paced = new ReadableStream({
      async pull(ctl) {
        for (;;) {
          const i = buf.indexOf('\\n\\n');
          if (i >= 0) {
            const ev = buf.slice(0, i + 2);
            buf = buf.slice(i + 2);
            await new Promise((r) => setTimeout(r, 40));
            ctl.enqueue(enc.encode(ev));
            return;
          }
          const { value, done } = await reader.read();
          if (done) { if (buf) ctl.enqueue(enc.encode(buf)); ctl.close(); return; }
          buf += dec.decode(value, { stream: true });
        }
      },
      cancel(reason) { return reader.cancel(reason); },
    });
    return new Response(paced, { status: resp.status, headers: resp.headers });
  };
})();"""


# ---- 1. Streaming with a Thinking block ----------------------------------------------------

def test_streamed_reply_with_thinking_block(server, open_page, shots):
    page = open_page(server, max_tokens=SHORT, init_script=PACE_EVENTS)
    page.evaluate(RECORDER)
    send(page, "Hello, who are you?")
    expect(page.get_by_test_id("user-text")).to_have_text("Hello, who are you?")
    wait_finished(page)

    samples = page.evaluate("window.__samples")
    live = [s for s in samples if s["generating"]]
    # The Thinking block was on screen, open, before any answer text and while streaming.
    assert any(s["thinking"] > 0 and s["answer"] == 0 and s["open"] for s in live), samples
    # The answer grew in several steps while the reply streamed.
    lengths = sorted({s["answer"] for s in live if s["answer"] > 0})
    assert len(lengths) >= 3, f"the answer did not stream: {lengths}"
    # Once the answer began, the Thinking block was folded away.
    assert any(s["answer"] > 0 and not s["open"] for s in live), samples

    reply = last_reply(page)
    thinking = reply.get_by_test_id("thinking")
    answer = reply.get_by_test_id("answer")
    expect(thinking).to_be_visible()
    expect(thinking).not_to_have_attribute("open", "")
    expect(reply.get_by_test_id("thinking-label")).to_contain_text("Thought for")
    expect(answer).to_contain_text(FINAL_START)
    # Thinking sits above the answer.
    assert page.evaluate("""() => {
        const a = [...document.querySelectorAll('[data-testid=message-assistant]')].pop();
        const t = a.querySelector('[data-testid=thinking]');
        const b = a.querySelector('[data-testid=answer]');
        return !!(t.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)
            && t.getBoundingClientRect().bottom <= b.getBoundingClientRect().top; }""")
    # The user can open it again; it holds the analysis text.
    reply.locator("summary").click()
    expect(thinking).to_have_attribute("open", "")
    expect(reply.get_by_test_id("thinking-body")).to_contain_text(ANALYSIS_TEXT)
    # The figures under the reply: usage from the server, speed, and why it ended.
    stats = reply.get_by_test_id("message-stats")
    expect(stats.get_by_test_id("stat-completion")).to_have_text(f"{SHORT} completion tokens")
    expect(stats.get_by_test_id("stat-prompt")).to_contain_text("prompt")
    expect(stats.get_by_test_id("stat-tps")).to_contain_text("tok/s")
    expect(stats.get_by_test_id("stat-ttft")).to_contain_text("TTFT")
    expect(stats.get_by_test_id("stat-finish")).to_contain_text("token limit")
    page.screenshot(path=os.path.join(shots, "desktop-light.png"))
    page.get_by_test_id("theme-dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.screenshot(path=os.path.join(shots, "desktop-dark.png"))


# ---- 2. Stop -------------------------------------------------------------------------------

def test_stop_keeps_the_partial_reply_and_frees_the_server(server, open_page):
    page = open_page(server, max_tokens=LONG)
    send(page, "Tell me a long story")
    wait_answer_has_text(page)
    # While it streams: a progress bar, tokens/s and the time to the first token.
    live = page.get_by_test_id("live-text")
    expect(live).to_contain_text(f"/ {LONG:,} tokens")
    expect(live).to_contain_text("tok/s")
    expect(live).to_contain_text("TTFT")
    width = page.get_by_test_id("live-progress").locator("div").evaluate(
        "e => parseFloat(e.style.width)")
    assert 0 < width < 100
    page.get_by_test_id("stop").click()

    reply = last_reply(page)
    expect(reply.get_by_test_id("stopped")).to_be_visible()
    expect(page.get_by_test_id("stop")).to_be_hidden()
    expect(page.get_by_test_id("live-stats")).to_be_hidden()
    partial = reply.get_by_test_id("answer").inner_text()
    assert partial.startswith(FINAL_START)
    assert stopped_early(reply)
    assert wait_until(lambda: server_idle(server), SETTLE_S), \
        "the server still runs the request or holds its KV blocks after Stop"
    # The partial reply is stored as it was.
    page.reload()
    expect(last_reply(page).get_by_test_id("answer")).to_have_text(partial)
    expect(last_reply(page).get_by_test_id("stopped")).to_be_visible()


# ---- 3. History ----------------------------------------------------------------------------

def test_history_survives_reload_rename_and_delete(server, open_page):
    page = open_page(server)
    send(page, "Remember this conversation please")
    wait_finished(page)
    items = page.get_by_test_id("conv-item")
    expect(items).to_have_count(1)
    expect(items.first.get_by_test_id("conv-title")).to_have_text(
        "Remember this conversation please")

    page.goto(origin(server) + "/")  # a fresh load with no chat open
    expect(page.get_by_test_id("message-user")).to_have_count(0)
    expect(items).to_have_count(1)
    items.first.get_by_test_id("conv-open").click()
    expect(page.get_by_test_id("user-text")).to_have_text("Remember this conversation please")
    expect(last_reply(page).get_by_test_id("answer")).to_contain_text(FINAL_START)

    # Search filters by title and by content.
    search = page.get_by_test_id("search")
    search.fill("no such words anywhere")
    expect(items).to_have_count(0)
    search.fill("streamed reply")  # in the reply only
    expect(items).to_have_count(1)
    search.fill("")

    items.first.get_by_test_id("conv-rename").click()
    box = page.get_by_test_id("conv-rename-input")
    box.fill("My renamed chat")
    box.press("Enter")
    expect(items.first.get_by_test_id("conv-title")).to_have_text("My renamed chat")
    expect(page.get_by_test_id("conv-title-bar")).to_have_text("My renamed chat")
    page.reload()
    expect(items.first.get_by_test_id("conv-title")).to_have_text("My renamed chat")

    items.first.get_by_test_id("conv-delete").click()
    items.first.get_by_test_id("conv-delete-confirm").click()
    expect(items).to_have_count(0)
    expect(page.get_by_test_id("message-user")).to_have_count(0)
    page.reload()
    expect(page.locator("html[data-ready=true]")).to_have_count(1)
    expect(items).to_have_count(0)


# ---- 4. Export and import ------------------------------------------------------------------

def test_export_then_import_into_a_fresh_browser(server, open_page, tmp_path):
    page = open_page(server)
    send(page, "Export me")
    wait_finished(page)
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    path = tmp_path / "export.json"
    info.value.save_as(path)
    data = json.loads(path.read_text())
    assert data["format"] == "gptoss-webui-conversations"
    convs = data["conversations"]
    assert len(convs) == 1
    msgs = convs[0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["content"] == "Export me"
    assert msgs[1]["content"].startswith(FINAL_START)
    assert ANALYSIS_TEXT in msgs[1]["reasoning"]

    fresh = open_page(server)  # a new context: an empty IndexedDB
    expect(fresh.get_by_test_id("conv-item")).to_have_count(0)
    fresh.get_by_test_id("import-file").set_input_files(str(path))
    expect(fresh.get_by_test_id("conv-item")).to_have_count(1)
    fresh.get_by_test_id("conv-open").first.click()
    expect(fresh.get_by_test_id("user-text")).to_have_text("Export me")
    expect(last_reply(fresh).get_by_test_id("answer")).to_contain_text(FINAL_START)
    # Importing the same file again adds nothing: ids are not duplicated.
    fresh.get_by_test_id("import-file").set_input_files(str(path))
    expect(fresh.get_by_test_id("toast")).to_contain_text("already here")
    expect(fresh.get_by_test_id("conv-item")).to_have_count(1)
    fresh.reload()
    expect(fresh.get_by_test_id("conv-item")).to_have_count(1)


# ---- 5. Theme ------------------------------------------------------------------------------

def background(page):
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_theme_switch_light_dark_system(server, open_page):
    page = open_page(server, scheme="light")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")  # "system" by default, system light
    expect(page.get_by_test_id("theme-system")).to_have_attribute("aria-pressed", "true")
    light_bg = background(page)

    page.get_by_test_id("theme-dark").click()
    expect(html).to_have_attribute("data-theme", "dark")
    dark_bg = background(page)
    assert dark_bg != light_bg
    assert sum(map(int, re.findall(r"\d+", dark_bg)[:3])) < 150, dark_bg  # dark indeed
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.get_by_test_id("theme-dark")).to_have_attribute("aria-pressed", "true")
    assert background(page) == dark_bg

    # "System" follows the system's preference as it changes.
    page.get_by_test_id("theme-system").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-theme", "dark")
    page.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-theme", "light")
    assert background(page) == light_bg

    # Light stays light under a dark system, across reloads; code colours follow.
    page.emulate_media(color_scheme="dark")
    page.get_by_test_id("theme-light").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    assert background(page) == light_bg
    assert page.evaluate("document.getElementById('hljs-light').media") == "all"
    assert page.evaluate("document.getElementById('hljs-dark').media") == "not all"


# ---- 6. API key ----------------------------------------------------------------------------

def test_api_key_missing_then_set_in_settings(gptoss_bin, scripted, log_dir, open_page):
    with serving(gptoss_bin, scripted, "--api-key", API_KEY, "--kv-cache-memory", "64M",
                 log_dir=log_dir, name="webui-key") as srv:
        page = open_page(srv)
        send(page, "Hello with no key")
        error = page.get_by_test_id("error-text")
        expect(error).to_contain_text("needs an API key")
        expect(error).to_contain_text("Settings")
        expect(page.get_by_test_id("user-text")).to_have_text("Hello with no key")
        # The status panel is public: it works without the key and says one is needed.
        expect(page.get_by_test_id("status-auth")).to_contain_text("not set")

        page.get_by_test_id("settings-open").click()
        page.get_by_test_id("set-api-key").fill("wrong-key")
        page.get_by_test_id("settings-save").click()
        page.get_by_test_id("retry").click()
        expect(error).to_contain_text("did not accept the API key")
        expect(page.get_by_test_id("user-text")).to_have_text("Hello with no key")

        page.get_by_test_id("settings-open").click()
        page.get_by_test_id("set-api-key").fill(API_KEY)
        page.get_by_test_id("settings-save").click()
        page.get_by_test_id("retry").click()
        wait_finished(page)
        expect(last_reply(page).get_by_test_id("answer")).to_contain_text(FINAL_START)
        expect(page.get_by_test_id("error-text")).to_have_count(0)
        expect(page.get_by_test_id("message-user")).to_have_count(1)
        page.reload()  # the key is kept
        send(page, "And again")
        wait_finished(page)
        expect(page.get_by_test_id("message-assistant")).to_have_count(2)
        expect(page.get_by_test_id("error-text")).to_have_count(0)


# ---- 7. Status panel -----------------------------------------------------------------------

def test_status_panel(server, open_page, scripted, shots):
    page = open_page(server, max_tokens=LONG)
    panel = page.get_by_test_id("status-panel")
    expect(panel).to_be_visible()  # shown by default on a desktop
    expect(page.get_by_test_id("status-model")).to_contain_text(os.path.basename(str(scripted)))
    expect(page.get_by_test_id("status-demo")).to_have_count(0)
    expect(page.get_by_test_id("status-context")).to_have_text(re.compile(r"8,192 tokens"))
    devices = page.get_by_test_id("status-device")
    expect(devices).to_have_count(1)
    expect(devices.first).to_have_attribute("data-kind", "cpu")
    expect(devices.first.get_by_test_id("status-device-memory")).to_have_text(
        re.compile(r"Memory\s*\d+\.\d+ / \d+(\.\d+)? GB"))
    expect(page.get_by_test_id("status-uptime")).to_contain_text(" s")

    send(page, "Keep talking for a while")
    wait_answer_has_text(page)
    expect(page.get_by_test_id("status-running")).to_have_text(re.compile(r"Running\s*1$"))
    blocks = page.get_by_test_id("status-kv-blocks")
    expect(blocks).to_have_text(re.compile(r"Blocks\s*[1-9][\d,]* / [1-9][\d,]*"))
    expect(page.get_by_test_id("status-kv-percent")).not_to_have_text(re.compile(r"Used\s*0 %"))
    panel.screenshot(path=os.path.join(shots, "status-panel.png"))
    page.get_by_test_id("stop").click()
    expect(page.get_by_test_id("status-running")).to_have_text(re.compile(r"Running\s*0$"))
    expect(blocks).to_have_text(re.compile(r"Blocks\s*0 / "))

    # The toggle hides and shows it.
    page.get_by_test_id("status-toggle").click()
    expect(panel).to_be_hidden()
    page.get_by_test_id("status-toggle").click()
    expect(panel).to_be_visible()


# ---- 8. Markdown, code highlighting, no script injection -----------------------------------

# The scripted model can only say its one sentence, so the reply the renderer gets here is
# canned: the browser's request is answered by page.route with an SSE stream shaped exactly
# like the server's. It is the honest way to feed the renderer hostile markdown.
HOSTILE = (
    "# Title\n\nSome **bold** text and `inline code`.\n\n"
    "```python\ndef add(a, b):\n    return a + b  # sum\n```\n\n"
    "<img src=x onerror=\"window.__pwned=1\">\n\n"
    "<script>window.__pwned=2</script>\n\n"
    "[a link](javascript:window.__pwned=3) and <a href=\"#\" onclick=\"window.__pwned=4\">x</a>\n"
)


def sse(deltas, finish="stop", usage=(12, 34)):
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    for kind, text in deltas:
        delta = {kind: text}
        if kind == "reasoning_content":
            delta["reasoning"] = text
        events.append({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    events.append({"choices": [], "usage": {"prompt_tokens": usage[0],
                                            "completion_tokens": usage[1],
                                            "total_tokens": sum(usage)}})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body


def test_markdown_code_highlighting_and_no_script_injection(server, open_page, shots):
    page = open_page(server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=origin(server))
    pieces = [HOSTILE[i:i + 17] for i in range(0, len(HOSTILE), 17)]  # split mid-tag, as tokens may
    body = sse([("reasoning_content", "Thinking with <img src=y onerror=\"window.__pwned=5\">")]
               + [("content", p) for p in pieces])
    page.route("**/v1/chat/completions",
               lambda route: route.fulfill(status=200, body=body,
                                           headers={"Content-Type": "text/event-stream"}))
    send(page, "Show me markdown")
    wait_finished(page)
    answer = last_reply(page).get_by_test_id("answer")
    expect(answer.locator("h1")).to_have_text("Title")
    expect(answer.locator("strong")).to_have_text("bold")
    code = answer.get_by_test_id("code-block")
    expect(code).to_have_count(1)
    expect(code.locator("code.hljs")).to_have_count(1)
    expect(code.locator(".hljs-keyword").first).to_have_text(re.compile(r"def|return"))
    assert code.locator("span[class^=hljs-]").count() >= 3
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[onerror]").count() == 0
    assert page.locator("[onclick]").count() == 0
    assert page.locator("[data-testid=messages] script").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    # The copy button on the code block copies the code.
    code.get_by_test_id("code-copy").click()
    expect(page.get_by_test_id("toast")).to_have_text("Code copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("def add(a, b):") and "return a + b" in copied
    # So does the one on the message, with the markdown as the model wrote it.
    last_reply(page).get_by_test_id("copy-message").click()
    expect(page.get_by_test_id("toast")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE
    page.screenshot(path=os.path.join(shots, "markdown.png"))
    # Reloaded from IndexedDB, it renders as safely.
    page.reload()
    expect(last_reply(page).get_by_test_id("code-block")).to_have_count(1)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[onerror]").count() == 0


# ---- 9. Nothing but this server ------------------------------------------------------------

def test_no_request_leaves_the_server(server, browser):
    urls, csp = [], []
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    try:
        context.on("request", lambda r: urls.append(r.url))
        page = context.new_page()
        page.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
        page.goto(origin(server) + "/")
        expect(page.locator("html[data-ready=true]")).to_have_count(1)
        page.get_by_test_id("settings-open").click()
        page.get_by_test_id("set-max-tokens").fill(str(SHORT))
        page.get_by_test_id("settings-save").click()
        send(page, "Hello, is anyone outside?")
        wait_finished(page)
        page.get_by_test_id("theme-dark").click()
        page.get_by_test_id("status-toggle").click()
        page.get_by_test_id("status-toggle").click()
        expect(page.get_by_test_id("status-kv-blocks")).to_be_visible()
        last_reply(page).locator("summary").click()
        with page.expect_download():
            page.get_by_test_id("export").click()
        page.get_by_test_id("new-chat").click()
        page.reload()
        expect(page.locator("html[data-ready=true]")).to_have_count(1)
    finally:
        context.close()
    here = origin(server) + "/"
    outside = [u for u in urls if not (u.startswith(here) or u.startswith(("data:", "blob:")))]
    assert not outside, f"requests outside the server: {outside}"
    paths = {u[len(here) - 1:] for u in urls if u.startswith(here)}
    for want in ("/", "/app.js", "/style.css", "/vendor/marked.min.js", "/vendor/purify.min.js",
                 "/vendor/highlight.min.js", "/status", "/v1/chat/completions"):
        assert want in paths, f"{want} was never requested: {sorted(paths)}"
    assert "/favicon.ico" not in paths
    assert not csp, f"the page broke its own Content-Security-Policy: {csp}"


# ---- 10. Errors ----------------------------------------------------------------------------

def test_prompt_longer_than_the_context(gptoss_bin, scripted, log_dir, open_page):
    with serving(gptoss_bin, scripted, "--max-model-len", 192, "--kv-cache-memory", "64M",
                 log_dir=log_dir, name="webui-small") as srv:
        # max_tokens LONG is more than any prompt leaves here: the UI then lets the server
        # give the reply what room there is (the server refuses the request as asked).
        page = open_page(srv, max_tokens=LONG)
        long_text = " ".join(f"word{i}" for i in range(400))
        send(page, long_text)
        error = page.get_by_test_id("error-text")
        expect(error).to_contain_text("maximum context length is 192 tokens")
        expect(page.get_by_test_id("user-text")).to_have_text(long_text)
        expect(page.get_by_test_id("retry")).to_be_visible()
        # Nothing was lost: after a reload the message is still there to edit and resend.
        page.reload()
        expect(page.get_by_test_id("user-text")).to_have_text(long_text)
        # A short message in a new chat works on the same server.
        page.get_by_test_id("new-chat").click()
        send(page, "Short")
        wait_finished(page)
        expect(last_reply(page).get_by_test_id("answer")).to_contain_text(FINAL_START)
        expect(last_reply(page).get_by_test_id("stat-finish")).to_contain_text("token limit")
        expect(page.get_by_test_id("error-text")).to_have_count(0)


def test_lost_connection_keeps_the_partial_reply(gptoss_bin, scripted, log_dir, open_page):
    srv = Server(gptoss_bin, scripted, "--kv-cache-memory", "64M", log_dir=log_dir,
                 name="webui-doomed").start()
    try:
        page = open_page(srv, max_tokens=LONG)
        send(page, "Talk until the server goes away")
        wait_answer_has_text(page)
        # The server stops mid-reply (and must still exit cleanly): the stream just ends.
        srv.check_clean_exit(signal.SIGINT)
        error = page.get_by_test_id("error-text")
        expect(error).to_contain_text("Lost the connection to the server")
        reply = last_reply(page)
        expect(reply.get_by_test_id("answer")).to_contain_text(FINAL_START)
        expect(page.get_by_test_id("retry")).to_be_visible()
        expect(page.get_by_test_id("user-text")).to_have_text("Talk until the server goes away")
        expect(page.get_by_test_id("status-error")).to_contain_text("does not answer")
    finally:
        srv.kill()


def test_busy_server_and_network_failure_in_plain_words(server, open_page):
    page = open_page(server)
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=503, headers={"Content-Type": "application/json", "Retry-After": "2"},
        body=json.dumps({"error": {"message": "too many requests are queued",
                                   "type": "server_error", "param": None, "code": None}})))
    send(page, "Are you busy?")
    expect(page.get_by_test_id("error-text")).to_contain_text("The server is busy, try again")
    page.unroute("**/v1/chat/completions")
    page.route("**/v1/chat/completions", lambda route: route.abort("connectionreset"))
    page.get_by_test_id("retry").click()
    expect(page.get_by_test_id("error-text")).to_contain_text("Lost the connection to the server")
    page.unroute("**/v1/chat/completions")
    page.get_by_test_id("retry").click()
    wait_finished(page)
    expect(page.get_by_test_id("message-user")).to_have_count(1)
    expect(last_reply(page).get_by_test_id("answer")).to_contain_text(FINAL_START)
    expect(page.get_by_test_id("error-text")).to_have_count(0)


# ---- 11. Keyboard --------------------------------------------------------------------------

def test_keyboard_enter_shift_enter_escape(server, open_page):
    page = open_page(server, max_tokens=LONG)
    box = page.get_by_test_id("input")
    box.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.get_by_test_id("message-user")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("user-text")).to_have_text("first line\nsecond line")
    expect(box).to_have_value("")
    wait_answer_has_text(page)
    page.keyboard.press("Escape")
    expect(last_reply(page).get_by_test_id("stopped")).to_be_visible()
    expect(page.get_by_test_id("stop")).to_be_hidden()
    assert stopped_early(last_reply(page))
    assert wait_until(lambda: server_idle(server), SETTLE_S)


# ---- 12. Phone -----------------------------------------------------------------------------

def no_horizontal_overflow(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"
                         " && document.body.scrollWidth <= window.innerWidth")


def test_phone_layout_and_drawer(server, open_page, shots):
    page = open_page(server, width=375, height=667, scheme="light")
    assert no_horizontal_overflow(page)
    sidebar = page.get_by_test_id("sidebar")
    off = "r => r.getBoundingClientRect().right <= 0"
    on = "r => r.getBoundingClientRect().left >= 0 && r.getBoundingClientRect().right <= 375"
    page.wait_for_function(f"() => ({off})(document.querySelector('[data-testid=sidebar]'))")
    expect(page.get_by_test_id("status-panel")).not_to_be_in_viewport()

    send(page, "Hello from a phone")
    wait_finished(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert no_horizontal_overflow(page)
    page.screenshot(path=os.path.join(shots, "phone-light.png"))

    page.get_by_test_id("sidebar-toggle").click()
    page.wait_for_function(f"() => ({on})(document.querySelector('[data-testid=sidebar]'))")
    expect(sidebar.get_by_test_id("conv-item")).to_have_count(1)
    expect(page.get_by_test_id("backdrop")).to_be_visible()
    page.screenshot(path=os.path.join(shots, "phone-drawer.png"))
    page.get_by_test_id("backdrop").click(position={"x": 360, "y": 300})
    page.wait_for_function(f"() => ({off})(document.querySelector('[data-testid=sidebar]'))")
    expect(page.get_by_test_id("backdrop")).to_be_hidden()
    # Opening a chat from the drawer closes it.
    page.get_by_test_id("sidebar-toggle").click()
    page.wait_for_function(f"() => ({on})(document.querySelector('[data-testid=sidebar]'))")
    sidebar.get_by_test_id("conv-open").first.click()
    page.wait_for_function(f"() => ({off})(document.querySelector('[data-testid=sidebar]'))")

    # The status panel is a drawer too, closed until asked for.
    page.get_by_test_id("status-toggle").click()
    expect(page.get_by_test_id("status-panel")).to_be_in_viewport()
    expect(page.get_by_test_id("status-model")).to_be_visible()
    page.get_by_test_id("backdrop").click(position={"x": 20, "y": 300})
    expect(page.get_by_test_id("status-panel")).not_to_be_in_viewport()

    page.get_by_test_id("theme-dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert no_horizontal_overflow(page)
    page.screenshot(path=os.path.join(shots, "phone-dark.png"))

    # Wide content scrolls inside its own box, never the page (canned, as in the markdown test).
    wide = ("```\n" + "x = '" + "w" * 300 + "'\n```\n\n" + "y" * 300 + "\n\n| "
            + " | ".join(f"column {i}" for i in range(20)) + " |\n|" + "---|" * 20 + "\n")
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, body=sse([("content", wide)]), headers={"Content-Type": "text/event-stream"}))
    send(page, "Something wide")
    wait_finished(page)
    expect(last_reply(page).get_by_test_id("code-block")).to_have_count(1)
    assert no_horizontal_overflow(page)


# ---- Settings, voice, edit and regenerate --------------------------------------------------

def test_settings_are_kept_and_sent(server, open_page, shots):
    page = open_page(server)
    page.get_by_test_id("settings-open").click()
    dialog = page.get_by_test_id("settings-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("set-system").fill("You answer in one sentence.")
    page.get_by_test_id("set-effort-high").check(force=True)
    page.get_by_test_id("set-temperature").fill("0.5")
    page.get_by_test_id("set-top-p").fill("0.9")
    page.get_by_test_id("set-max-tokens").fill("40")
    dialog.screenshot(path=os.path.join(shots, "settings.png"))
    page.get_by_test_id("settings-save").click()
    expect(dialog).to_be_hidden()

    page.reload()
    page.get_by_test_id("settings-open").click()
    expect(page.get_by_test_id("set-system")).to_have_value("You answer in one sentence.")
    expect(page.get_by_test_id("set-effort-high")).to_be_checked()
    expect(page.get_by_test_id("set-temperature")).to_have_value("0.5")
    expect(page.get_by_test_id("set-max-tokens")).to_have_value("40")
    page.get_by_test_id("settings-cancel").click()
    expect(dialog).to_be_hidden()

    with page.expect_request("**/v1/chat/completions") as req:
        send(page, "Use my settings")
    body = json.loads(req.value.post_data)
    assert body["messages"][0] == {"role": "system", "content": "You answer in one sentence."}
    assert body["messages"][-1] == {"role": "user", "content": "Use my settings"}
    assert body["reasoning_effort"] == "high" and body["stream"] is True
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["max_tokens"] == 40
    assert body["stream_options"] == {"include_usage": True}
    wait_finished(page)
    expect(last_reply(page).get_by_test_id("stat-completion")).to_have_text("40 completion tokens")


FAKE_SPEECH = """
window.SpeechRecognition = class {
  start() { setTimeout(() => {
    this.onresult({results: [[{transcript: 'dictated words'}]]});
    this.onend(); }, 50); }
  stop() { this.onend(); }
};"""
NO_SPEECH = "delete window.SpeechRecognition; delete window.webkitSpeechRecognition;"


def test_voice_input_button(server, open_page):
    page = open_page(server, init_script=FAKE_SPEECH)
    mic = page.get_by_test_id("mic")
    expect(mic).to_be_visible()
    mic.click()
    expect(page.get_by_test_id("input")).to_have_value("dictated words")
    page = open_page(server, init_script=NO_SPEECH)
    expect(page.get_by_test_id("input")).to_be_visible()
    expect(page.get_by_test_id("mic")).to_be_hidden()


def test_regenerate_and_edit_a_message(server, open_page):
    page = open_page(server, max_tokens=20)
    send(page, "First question")
    wait_finished(page)
    first_id = last_reply(page).get_attribute("data-id")
    last_reply(page).get_by_test_id("regenerate").click()
    wait_finished(page)
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert last_reply(page).get_attribute("data-id") != first_id

    send(page, "Second question")
    wait_finished(page)
    expect(page.get_by_test_id("message-user")).to_have_count(2)
    # Editing the first message drops everything after it and asks again.
    page.get_by_test_id("message-user").first.hover()
    page.get_by_test_id("message-user").first.get_by_test_id("edit-message").click()
    box = page.get_by_test_id("edit-input")
    box.fill("Edited question")
    page.get_by_test_id("edit-send").click()
    wait_finished(page)
    expect(page.get_by_test_id("message-user")).to_have_count(1)
    expect(page.get_by_test_id("user-text")).to_have_text("Edited question")
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)
    expect(page.get_by_test_id("conv-title").first).to_have_text("Edited question")


# ---- The built-in demo model ---------------------------------------------------------------

def test_demo_model_answers_what_is_2_plus_3(gptoss_bin, log_dir, open_page, shots):
    """What the README's first command gives: the server with no --model, on the demo model. The
    page says it is the demo, suggests what the demo was trained for, and answers "What is
    2 + 3?" with 5 after its thinking."""
    require_demo_model()
    with serving(gptoss_bin, None, log_dir=log_dir, name="webui-demo") as srv:
        page = open_page(srv, max_tokens=256)
        expect(page.get_by_test_id("welcome-demo")).to_be_visible()
        first = page.locator(".suggestion").first
        expect(first).to_have_text("What is 2 + 3?")
        first.click()
        expect(page.get_by_test_id("input")).to_have_value("What is 2 + 3?")
        page.get_by_test_id("input").press("Enter")
        wait_finished(page)
        reply = last_reply(page)
        expect(reply.get_by_test_id("thinking")).to_be_visible()
        expect(reply.get_by_test_id("answer")).to_have_text(re.compile(r"(^|\D)5\.?\s*$"))
        page.screenshot(path=os.path.join(shots, "demo.png"))
