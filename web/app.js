/* app.js — all behaviour of the built-in chat UI: conversations kept in IndexedDB, streaming
   replies from /v1/chat/completions rendered as sanitised markdown, settings and theme in
   localStorage, the server-status panel fed by /status, and voice input where the browser has
   it. Plain JavaScript for current browsers, with no build step; the page's CSP allows only
   scripts from this server, so every handler is attached here. */
(function () {
  'use strict';

  // ---- Small helpers ----------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, children) => {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k === 'testid') e.setAttribute('data-testid', v);
        else e.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const c of children || []) if (c) e.append(c);
    return e;
  };
  // Icons are built from path data so that no markup string is ever parsed.
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ICONS = {
    copy: ['M9 9h10v11H9z', 'M5 15H4V4h11v1'],
    check: ['M5 12l5 5 9-10'],
    edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
    regen: ['M20 11a8 8 0 1 0-2.3 5.7', 'M20 4v7h-7'],
    trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13'],
    rename: ['M4 20h4L19 9l-4-4L4 16z'],
    retry: ['M20 11a8 8 0 1 0-2.3 5.7', 'M20 4v7h-7'],
  };
  function icon(name) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    for (const d of ICONS[name]) {
      const p = document.createElementNS(SVG_NS, 'path');
      p.setAttribute('d', d);
      svg.append(p);
    }
    return svg;
  }
  const iconButton = (name, title, testid, extraClass) => {
    const b = el('button', { type: 'button', class: 'icon-btn' + (extraClass ? ' ' + extraClass : ''),
      title, 'aria-label': title, testid });
    b.append(icon(name));
    return b;
  };
  const newId = () => (crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));
  const now = () => performance.now();
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
  const fmtNum = (x, digits) => Number(x).toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
  const fmtGB = (bytes) => (bytes / 1e9).toFixed(bytes >= 1e11 ? 0 : bytes >= 1e10 ? 1 : 2);
  const fmtBytes = (bytes) => (bytes >= 1e9 ? fmtGB(bytes) + ' GB' : bytes >= 1e6 ? (bytes / 1e6).toFixed(0) + ' MB'
    : (bytes / 1e3).toFixed(0) + ' kB');
  const fmtPercent = (f) => (f > 0 && f < 0.001 ? (f * 100).toFixed(3) : f > 0 && f < 0.1 ? (f * 100).toFixed(1) : (f * 100).toFixed(0)) + ' %';
  function fmtDuration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${m} min`;
    if (m) return `${m} min ${s % 60} s`;
    return `${s} s`;
  }
  function fmtMs(ms) { return ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : Math.round(ms) + ' ms'; }
  function fmtWhen(t) {
    const d = new Date(t), today = new Date();
    if (d.toDateString() === today.toDateString())
      return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return d.toLocaleDateString([], { month: 'short', day: 'numeric', year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
  }
  const storage = {
    get(key) { try { return localStorage.getItem(key); } catch (e) { return null; } },
    set(key, v) { try { localStorage.setItem(key, v); } catch (e) { /* private mode: not kept */ } },
  };

  let toastTimer = 0;
  function toast(text) {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 2200);
  }
  function banner(text) {
    $('banner-text').textContent = text || '';
    $('banner').hidden = !text;
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // No clipboard API (plain http on another host) or no permission: the old way.
      const ta = el('textarea', { readonly: true, class: 'offscreen' });
      ta.value = text;
      ta.style.position = 'fixed';
      ta.style.top = '-1000px';
      document.body.append(ta);
      ta.select();
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
      ta.remove();
      return ok;
    }
  }
  function flashCopied(button, ok) {
    toast(ok ? 'Copied' : 'Could not copy');
    if (!ok) return;
    const svg = button.querySelector('svg');
    if (svg) svg.replaceWith(icon('check'));
    setTimeout(() => { const s = button.querySelector('svg'); if (s) s.replaceWith(icon('copy')); }, 1200);
  }

  // ---- Settings and theme -----------------------------------------------------------------------

  const SETTINGS_KEY = 'gptoss.settings';
  const THEME_KEY = 'gptoss.theme';
  const STATUS_KEY = 'gptoss.statusPanel';
  const DEFAULTS = Object.freeze({
    systemPrompt: '', reasoningEffort: 'medium', temperature: 1, topP: 1, maxTokens: 4096, apiKey: '',
  });
  function loadSettings() {
    let s = {};
    try { s = JSON.parse(storage.get(SETTINGS_KEY) || '{}') || {}; } catch (e) { s = {}; }
    return Object.assign({}, DEFAULTS, s);
  }
  let settings = loadSettings();

  const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
  function themeChoice() {
    const t = storage.get(THEME_KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  }
  function applyTheme() {
    const choice = themeChoice();
    const resolved = choice === 'system' ? (darkQuery.matches ? 'dark' : 'light') : choice;
    const root = document.documentElement;
    root.setAttribute('data-theme', resolved);
    root.setAttribute('data-theme-choice', choice);
    $('hljs-light').media = resolved === 'light' ? 'all' : 'not all';
    $('hljs-dark').media = resolved === 'dark' ? 'all' : 'not all';
    for (const b of document.querySelectorAll('[data-theme-choice]'))
      if (b.tagName === 'BUTTON') b.setAttribute('aria-pressed', String(b.dataset.themeChoice === choice));
  }
  applyTheme();
  darkQuery.addEventListener('change', applyTheme);
  for (const b of document.querySelectorAll('button[data-theme-choice]')) {
    b.addEventListener('click', () => {
      storage.set(THEME_KEY, b.dataset.themeChoice);
      applyTheme();
    });
  }

  // ---- Conversation store (IndexedDB) -----------------------------------------------------------

  const DB_NAME = 'gptoss-webui';
  const STORE = 'conversations';
  let dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => {
          if (!req.result.objectStoreNames.contains(STORE))
            req.result.createObjectStore(STORE, { keyPath: 'id' });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbPromise;
  }
  async function dbRun(mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
  const dbAll = () => dbRun('readonly', (s) => s.getAll());
  const dbPut = (conv) => dbRun('readwrite', (s) => s.put(conv));
  const dbDelete = (id) => dbRun('readwrite', (s) => s.delete(id));

  // ---- State ------------------------------------------------------------------------------------

  const convs = new Map();     // id -> {id, title, titleEdited, created, updated, messages: [...]}
  let currentId = null;        // null: a new chat not stored until its first message
  let gen = null;              // the reply being generated, see generate()
  let serverStatus = null;     // the last /status answer
  let editingId = null;        // the user message being edited
  const msgEls = new Map();    // message id -> its element, for in-place streaming updates

  const current = () => (currentId ? convs.get(currentId) : null);

  async function save(conv, touch) {
    if (touch !== false) conv.updated = Date.now();
    try {
      await dbPut(conv);
    } catch (e) {
      banner('Could not save the chat in this browser: ' + (e && e.message ? e.message : e));
    }
  }

  function titleFrom(text) {
    const line = text.trim().replace(/\s+/g, ' ');
    return line.length > 48 ? line.slice(0, 47).trimEnd() + '…' : (line || 'New chat');
  }

  // ---- Markdown ---------------------------------------------------------------------------------

  const hasMarkdown = () => typeof window.marked !== 'undefined' && typeof window.DOMPurify !== 'undefined';
  let purifyReady = false;
  let purifyBroken = false;
  const purifyWorks = () => {
    try { return window.DOMPurify.sanitize('<b>x</b>') === '<b>x</b>'; } catch (e) { return false; }
  };
  function setupPurify() {
    if (purifyReady || typeof window.DOMPurify === 'undefined') return;
    purifyReady = true;
    if (!purifyWorks()) {
      // Debian's DOMPurify 2.4.1+dfsg-2+deb12u1 reads an undeclared global `shadowNode` in
      // sanitize() (a mis-backported depth check) and throws on any input containing '<'. The
      // check it guards is also done node by node, so a neutral stand-in restores the library.
      window.shadowNode = { __depth: 0 };
      // Should it still fail, text is shown as text rather than risking raw HTML.
      purifyBroken = !purifyWorks();
    }
    window.DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A' && node.hasAttribute('href')) {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
      }
      // Images from elsewhere would be requests to other hosts (the CSP blocks them anyway);
      // only inline data stays.
      if (node.tagName === 'IMG') {
        const src = node.getAttribute('src') || '';
        if (!/^(data:image\/|blob:)/i.test(src)) node.removeAttribute('src');
      }
    });
  }
  const highlightCache = new Map();
  function highlight(code, lang) {
    const key = lang + '\u0000' + code;
    const hit = highlightCache.get(key);
    if (hit !== undefined) return hit;
    let html = null;
    try {
      if (lang && window.hljs.getLanguage(lang)) html = window.hljs.highlight(lang, code, true).value;
      else if (code.length < 20000) html = window.hljs.highlightAuto(code).value;
    } catch (e) {
      html = null;
    }
    if (highlightCache.size > 300) highlightCache.clear();
    highlightCache.set(key, html);
    return html;
  }
  /* Model text becomes HTML only through marked and then DOMPurify; highlight.js output escapes
     the code it is given, so writing it back is safe too. */
  function renderMarkdown(target, text) {
    setupPurify();
    if (!hasMarkdown() || purifyBroken) {
      target.textContent = text;
      target.classList.add('plain');
      return;
    }
    let html;
    try {
      html = window.marked.parse(text, { gfm: true, breaks: false, headerIds: false, mangle: false });
    } catch (e) {
      target.textContent = text;
      return;
    }
    target.innerHTML = window.DOMPurify.sanitize(html, { FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'] });
    for (const pre of target.querySelectorAll('pre')) {
      const code = pre.querySelector('code') || pre;
      const m = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className || '');
      const lang = m ? m[1].toLowerCase() : '';
      if (typeof window.hljs !== 'undefined') {
        const out = highlight(code.textContent, lang);
        if (out !== null) {
          code.innerHTML = out;
          code.classList.add('hljs');
        }
      }
      const copy = el('button', { type: 'button', class: 'code-copy', testid: 'code-copy', title: 'Copy the code' });
      copy.append(icon('copy'), el('span', { text: 'Copy' }));
      const head = el('div', { class: 'code-head' }, [el('span', { class: 'code-lang', text: lang || 'code' }), copy]);
      const wrap = el('div', { class: 'code-block', testid: 'code-block' });
      pre.replaceWith(wrap);
      wrap.append(head, pre);
    }
  }

  // ---- Sidebar ----------------------------------------------------------------------------------

  function matches(conv, q) {
    if (!q) return true;
    if ((conv.title || '').toLowerCase().includes(q)) return true;
    return conv.messages.some((m) => (m.content || '').toLowerCase().includes(q));
  }

  function renderList() {
    const list = $('conv-list');
    const q = $('search').value.trim().toLowerCase();
    const all = [...convs.values()].sort((a, b) => b.updated - a.updated);
    const shown = all.filter((c) => matches(c, q));
    list.replaceChildren(...shown.map(convItem));
    const empty = $('conv-empty');
    empty.hidden = shown.length > 0;
    empty.textContent = all.length ? 'No chat matches.' : 'No chats yet.';
  }

  function convItem(conv) {
    const li = el('li', { class: 'conv-item' + (conv.id === currentId ? ' active' : ''), testid: 'conv-item', 'data-id': conv.id });
    const open = el('button', { type: 'button', class: 'conv-open', testid: 'conv-open', title: conv.title });
    open.append(el('span', { class: 'conv-name', testid: 'conv-title', text: conv.title || 'New chat' }),
      el('span', { class: 'conv-when', text: fmtWhen(conv.updated) }));
    open.addEventListener('click', () => { openConversation(conv.id); closeDrawersOnNarrow(); });
    const rename = iconButton('rename', 'Rename', 'conv-rename');
    rename.addEventListener('click', () => startRename(li, conv));
    const del = iconButton('trash', 'Delete', 'conv-delete');
    let armed = 0;
    del.addEventListener('click', async () => {
      // Two clicks: the first asks, the second deletes.
      if (!armed) {
        del.classList.add('confirm');
        del.replaceChildren(document.createTextNode('Delete?'));
        del.setAttribute('data-testid', 'conv-delete-confirm');
        armed = setTimeout(() => {
          armed = 0;
          del.classList.remove('confirm');
          del.replaceChildren(icon('trash'));
          del.setAttribute('data-testid', 'conv-delete');
        }, 4000);
        return;
      }
      clearTimeout(armed);
      await deleteConversation(conv.id);
    });
    li.append(open, el('div', { class: 'conv-actions' }, [rename, del]));
    return li;
  }

  function startRename(li, conv) {
    const input = el('input', { type: 'text', class: 'conv-rename', testid: 'conv-rename-input', 'aria-label': 'New title', maxlength: '200' });
    input.value = conv.title;
    li.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (keep) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (keep && title && title !== conv.title) {
        conv.title = title;
        conv.titleEdited = true;
        await save(conv, false);
      }
      renderList();
      renderTitle();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); }
      else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
  }

  async function deleteConversation(id) {
    if (gen && gen.conv.id === id) stopGeneration();
    convs.delete(id);
    try { await dbDelete(id); } catch (e) { banner('Could not delete the chat: ' + e); }
    if (currentId === id) {
      setCurrent(null);
      renderConversation();
    }
    renderList();
    toast('Chat deleted');
  }

  // The open chat is named in the URL's fragment, so a reload comes back to it.
  function setCurrent(id) {
    currentId = id;
    const want = id ? '#' + id : '';
    if (location.hash !== want) history.replaceState(null, '', location.pathname + location.search + want);
  }

  function openConversation(id) {
    if (!convs.has(id)) id = null;
    setCurrent(id);
    editingId = null;
    banner('');
    renderList();
    renderConversation();
    scrollToBottom(true);
  }

  function newChat() {
    setCurrent(null);
    editingId = null;
    banner('');
    renderList();
    renderConversation();
    closeDrawersOnNarrow();
    $('input').focus();
  }

  // ---- Conversation view ------------------------------------------------------------------------

  function renderTitle() {
    const conv = current();
    const title = conv ? conv.title : 'New chat';
    $('conv-title').textContent = title;
    document.title = conv ? `${title} · gptoss` : 'gptoss';
  }

  function renderConversation() {
    const conv = current();
    const box = $('messages');
    msgEls.clear();
    const items = [];
    if (conv) {
      const lastAssistant = lastIndexOf(conv.messages, (m) => m.role === 'assistant');
      conv.messages.forEach((m, i) => {
        const e = m.role === 'user' ? userEl(conv, m, i) : assistantEl(conv, m, i === lastAssistant && i === conv.messages.length - 1);
        msgEls.set(m.id, e);
        items.push(e);
      });
    }
    box.replaceChildren(...items);
    $('scroller').classList.toggle('has-messages', !!(conv && conv.messages.length));
    renderTitle();
  }

  function lastIndexOf(arr, pred) {
    for (let i = arr.length - 1; i >= 0; i--) if (pred(arr[i])) return i;
    return -1;
  }

  function userEl(conv, m) {
    const art = el('article', { class: 'msg user', testid: 'message-user', 'data-id': m.id });
    if (editingId === m.id) {
      const ta = el('textarea', { testid: 'edit-input', 'aria-label': 'Edit the message' });
      ta.value = m.content;
      const send = el('button', { type: 'button', class: 'btn btn-primary', testid: 'edit-send', text: 'Send' });
      const cancel = el('button', { type: 'button', class: 'btn btn-ghost', testid: 'edit-cancel', text: 'Cancel' });
      send.addEventListener('click', () => resendEdited(conv, m, ta.value));
      cancel.addEventListener('click', () => { editingId = null; renderConversation(); });
      ta.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); resendEdited(conv, m, ta.value); }
        else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); editingId = null; renderConversation(); }
      });
      art.append(el('div', { class: 'edit-box' }, [ta, el('div', { class: 'edit-actions' }, [cancel, send])]));
      return art;
    }
    art.append(el('div', { class: 'bubble', testid: 'user-text', text: m.content }));
    const copy = iconButton('copy', 'Copy', 'copy-message');
    copy.addEventListener('click', async () => flashCopied(copy, await copyText(m.content)));
    const edit = iconButton('edit', 'Edit and send again', 'edit-message');
    edit.addEventListener('click', () => {
      if (gen) { toast('Wait for the reply to finish, or stop it'); return; }
      editingId = m.id;
      renderConversation();
      // Focused in the click itself: a deferred focus could move the caret after the user (or a
      // test) had already selected the text to replace it, and the new text would be appended.
      const ta = msgEls.get(m.id).querySelector('textarea');
      ta.focus();
      ta.setSelectionRange(ta.value.length, ta.value.length);
    });
    art.append(el('div', { class: 'msg-actions' }, [copy, edit]));
    // The last message is a user message only when its reply failed before it began.
    if (conv.messages[conv.messages.length - 1] === m && !gen) {
      const retry = el('button', { type: 'button', class: 'btn', testid: 'retry', text: 'Send again' });
      retry.addEventListener('click', () => regenerate(conv));
      art.append(retry);
    }
    return art;
  }

  function assistantEl(conv, m, isLast) {
    const streaming = gen && gen.msg === m;
    const art = el('article', {
      class: 'msg assistant' + (streaming ? ' streaming' : '') + (isLast ? ' last' : ''),
      testid: 'message-assistant', 'data-id': m.id,
    });
    const body = el('div', { class: 'msg-body' });
    art.append(body);
    // Thinking first, then the answer, then notices, figures and actions.
    const details = el('details', { class: 'thinking', testid: 'thinking' });
    details.append(el('summary', {}, [el('span', { class: 'thinking-label', testid: 'thinking-label' })]),
      el('div', { class: 'thinking-body markdown', testid: 'thinking-body' }));
    const answer = el('div', { class: 'answer markdown', testid: 'answer' });
    const notice = el('div', { class: 'notice', testid: 'message-error', role: 'alert' });
    const meta = el('div', { class: 'meta', testid: 'message-stats' });
    body.append(details, answer, notice, meta);
    if (!streaming) {
      const actions = el('div', { class: 'msg-actions' });
      const copy = iconButton('copy', 'Copy', 'copy-message');
      copy.addEventListener('click', async () => flashCopied(copy, await copyText(m.content)));
      actions.append(copy);
      if (isLast) {
        const regen = iconButton('regen', 'Regenerate', 'regenerate');
        regen.addEventListener('click', () => regenerate(conv));
        actions.append(regen);
      }
      art.append(actions);
    }
    art._parts = { details, answer, notice, meta, shown: { reasoning: null, content: null } };
    updateAssistantEl(art, m);
    return art;
  }

  /* Brings a reply's element up to date with its message; cheap when nothing changed, so that
     it can run on every animation frame while a reply streams. */
  function updateAssistantEl(art, m) {
    const p = art._parts;
    const streaming = gen && gen.msg === m;
    const reasoning = m.reasoning || '';
    p.details.hidden = !reasoning;
    if (reasoning !== p.shown.reasoning) {
      renderMarkdown(p.details.querySelector('.thinking-body'), reasoning);
      p.shown.reasoning = reasoning;
    }
    const thinkingLive = streaming && !m.content && !gen.done;
    p.details.classList.toggle('live', !!thinkingLive);
    const label = p.details.querySelector('.thinking-label');
    label.textContent = thinkingLive ? 'Thinking…'
      : m.thinkingMs >= 50 ? `Thought for ${fmtMs(m.thinkingMs)}` : 'Thinking';
    if (streaming) {
      // Open while the model thinks; closed once, when the answer begins (the user may reopen).
      if (!gen.openedThinking && reasoning) { p.details.open = true; gen.openedThinking = true; }
      if (!gen.closedThinking && m.content) { p.details.open = false; gen.closedThinking = true; }
    }
    if (m.content !== p.shown.content) {
      renderMarkdown(p.answer, m.content || '');
      p.shown.content = m.content;
    }
    p.notice.replaceChildren();
    p.notice.hidden = !m.error;
    if (m.error) {
      p.notice.append(el('span', { class: 'notice-text', testid: 'error-text', text: m.error }));
      if (!streaming) {
        const retry = el('button', { type: 'button', class: 'btn', testid: 'retry', text: 'Retry' });
        retry.prepend(icon('retry'));
        retry.addEventListener('click', () => regenerate(current()));
        p.notice.append(retry);
      }
    }
    p.meta.replaceChildren();
    if (m.stopped) p.meta.append(el('span', { class: 'stopped-tag', testid: 'stopped', text: 'Stopped' }));
    const s = m.stats;
    if (s && !streaming) {
      const parts = [];
      if (s.prompt_tokens != null) parts.push([`${fmtNum(s.prompt_tokens)} prompt`, 'stat-prompt']);
      if (s.completion_tokens != null) parts.push([`${fmtNum(s.completion_tokens)} completion tokens`, 'stat-completion']);
      if (s.tps) parts.push([`${s.tps.toFixed(1)} tok/s`, 'stat-tps']);
      if (s.ttft_ms != null) parts.push([`TTFT ${fmtMs(s.ttft_ms)}`, 'stat-ttft']);
      for (const [text, id] of parts) p.meta.append(el('span', { testid: id, text }));
      if (s.finish_reason && s.finish_reason !== 'stop') {
        const why = s.finish_reason === 'length' ? 'stopped at the token limit' : `finished: ${s.finish_reason}`;
        p.meta.append(el('span', { class: 'warn', testid: 'stat-finish', text: why }));
      }
    }
    p.meta.hidden = !p.meta.childElementCount;
  }

  // ---- Scrolling --------------------------------------------------------------------------------

  let stickToBottom = true;
  $('scroller').addEventListener('scroll', () => {
    const s = $('scroller');
    stickToBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  });
  function scrollToBottom(force) {
    const s = $('scroller');
    if (force || stickToBottom) s.scrollTop = s.scrollHeight;
  }

  // ---- Generation -------------------------------------------------------------------------------

  function authHeaders() {
    const h = {};
    if (settings.apiKey) h.Authorization = 'Bearer ' + settings.apiKey;
    return h;
  }

  function setGenerating(on) {
    $('send').hidden = on;
    $('stop').hidden = !on;
    $('live').hidden = !on;
    updateSendEnabled();
  }
  function updateSendEnabled() {
    $('send').disabled = !$('input').value.trim();
  }

  function sendMessage(text) {
    if (gen || !text.trim()) return;
    let conv = current();
    if (!conv) {
      conv = { id: newId(), title: titleFrom(text), titleEdited: false, created: Date.now(), updated: Date.now(), messages: [] };
      convs.set(conv.id, conv);
      setCurrent(conv.id);
    }
    // A reply that failed before it said anything is replaced by this new turn.
    const last = conv.messages[conv.messages.length - 1];
    if (last && last.role === 'assistant' && !last.content && !last.reasoning) conv.messages.pop();
    if (!conv.titleEdited && !conv.messages.some((m) => m.role === 'user')) conv.title = titleFrom(text);
    conv.messages.push({ id: newId(), role: 'user', content: text, time: Date.now() });
    editingId = null;
    $('input').value = '';
    autosize();
    banner('');
    save(conv);  // IndexedDB keeps the order of writes; generate() saves again later
    renderList();
    generate(conv);
  }

  function resendEdited(conv, m, text) {
    if (gen || !text.trim()) return;
    const i = conv.messages.indexOf(m);
    if (i < 0) return;
    m.content = text;
    conv.messages.length = i + 1;
    if (i === 0 && !conv.titleEdited) conv.title = titleFrom(text);
    editingId = null;
    save(conv);  // IndexedDB keeps the order of writes; generate() saves again later
    renderList();
    generate(conv);
  }

  function regenerate(conv) {
    if (gen || !conv) return;
    const i = lastIndexOf(conv.messages, (m) => m.role === 'user');
    if (i < 0) return;
    conv.messages.length = i + 1;
    save(conv);
    generate(conv);
  }

  /* One reply: streams it into a new assistant message of `conv`, keeping whatever arrived if
     the user stops it or the connection drops, and saving it as it goes. */
  async function generate(conv) {
    const history = conv.messages
      .filter((m) => m.role === 'user' || (m.role === 'assistant' && m.content))
      .map((m) => ({ role: m.role, content: m.content }));
    if (settings.systemPrompt.trim()) history.unshift({ role: 'system', content: settings.systemPrompt });
    const msg = { id: newId(), role: 'assistant', content: '', reasoning: '', time: Date.now() };
    conv.messages.push(msg);
    const maxTokens = Number(settings.maxTokens) > 0 ? Math.floor(Number(settings.maxTokens)) : 0;
    const body = {
      messages: history,
      stream: true,
      stream_options: { include_usage: true },
      reasoning_effort: settings.reasoningEffort,
      temperature: Number(settings.temperature),
      top_p: Number(settings.topP),
    };
    if (serverStatus && serverStatus.model) body.model = serverStatus.model;
    if (maxTokens) body.max_tokens = maxTokens;
    const g = gen = {
      conv, msg, controller: new AbortController(), t0: now(), tFirst: 0, tLast: 0,
      tAnswer: 0, chunks: 0, usage: null, finish: null, done: false, stopped: false,
      limit: maxTokens, openedThinking: false, closedThinking: false, lastSave: now(),
    };
    stickToBottom = true;
    renderConversation();
    setGenerating(true);
    updateLive();
    scrollToBottom(true);

    let error = null;
    try {
      let resp = await post(body, g);
      if (resp.status === 400 && body.max_tokens) {
        // The setting may exceed what the context leaves after this prompt: then let the
        // server give the reply all the room there is.
        const err = await readError(resp);
        if (err.param === 'max_tokens') {
          delete body.max_tokens;
          g.limit = 0;
          resp = await post(body, g);
        } else {
          error = describeHttpError(400, err, resp);
        }
      }
      if (!error && !resp.ok) error = describeHttpError(resp.status, await readError(resp), resp);
      if (!error) await readStream(resp, g);
      if (!error && !g.done && !g.finish) error = g.streamError || LOST;
      if (!error && g.streamError) error = g.streamError;
    } catch (e) {
      if (g.stopped || (e && e.name === 'AbortError')) g.stopped = true;
      else error = LOST;
    }
    finish(g, error);
  }

  const LOST = 'Lost the connection to the server. What arrived is kept; retry when the server is back.';

  function post(body, g) {
    return fetch('/v1/chat/completions', {
      method: 'POST',
      headers: Object.assign({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }, authHeaders()),
      body: JSON.stringify(body),
      signal: g.controller.signal,
      cache: 'no-store',
    });
  }

  async function readError(resp) {
    try {
      const j = await resp.json();
      return (j && j.error) || {};
    } catch (e) {
      return {};
    }
  }

  function describeHttpError(status, err, resp) {
    const said = err && err.message ? String(err.message) : '';
    switch (status) {
      case 401:
        return settings.apiKey
          ? 'The server did not accept the API key. Check it in Settings, then retry.'
          : 'The server needs an API key. Set it in Settings, then retry.';
      case 400:
        return 'The server could not take this request: ' + (said || 'it was malformed.');
      case 404:
        return 'The server does not know this: ' + (said || 'not found.');
      case 429:
      case 503: {
        const wait = resp && resp.headers.get('Retry-After');
        return 'The server is busy, try again' + (wait ? ` in ${wait} s.` : ' in a moment.')
          + (said && status === 503 && /load/i.test(said) ? ` (${said})` : '');
      }
      default:
        return `The server answered with an error (HTTP ${status})` + (said ? ': ' + said : '.');
    }
  }

  async function readStream(resp, g) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') { g.done = true; continue; }
        let chunk;
        try { chunk = JSON.parse(data); } catch (e) { continue; }
        onChunk(g, chunk);
      }
    }
  }

  function onChunk(g, chunk) {
    if (chunk.error) {
      g.streamError = 'The server stopped the reply: ' + (chunk.error.message || 'an error happened.');
      return;
    }
    if (chunk.usage) g.usage = chunk.usage;
    const c = chunk.choices && chunk.choices[0];
    if (!c) return;
    const d = c.delta || {};
    // reasoning_content and reasoning carry the same text: take one.
    const r = d.reasoning_content != null ? d.reasoning_content : d.reasoning;
    const m = g.msg;
    let got = false;
    if (r) { m.reasoning += r; got = true; }
    if (d.content) {
      if (!g.tAnswer) {
        g.tAnswer = now();
        if (m.reasoning) m.thinkingMs = g.tAnswer - (g.tFirst || g.t0);
      }
      m.content += d.content;
      got = true;
    }
    if (got) {
      const t = now();
      if (!g.tFirst) g.tFirst = t;
      g.tLast = t;
      g.chunks++;
    }
    if (c.finish_reason) g.finish = c.finish_reason;
    scheduleRender();
  }

  // At most one update per frame; the timer keeps a hidden tab (no frames) up to date.
  let frame = 0, frameTimer = 0;
  function scheduleRender() {
    if (frame || frameTimer) return;
    frame = requestAnimationFrame(renderFrame);
    frameTimer = setTimeout(renderFrame, 250);
  }
  function renderFrame() {
    cancelAnimationFrame(frame);
    clearTimeout(frameTimer);
    frame = frameTimer = 0;
    if (!gen) return;
    const art = msgEls.get(gen.msg.id);
    if (art && gen.conv.id === currentId) {
      updateAssistantEl(art, gen.msg);
      scrollToBottom(false);
    }
    updateLive();
    if (now() - gen.lastSave > 2000) {
      gen.lastSave = now();
      save(gen.conv);
    }
  }

  function tokensSoFar(g) {
    return g.usage ? g.usage.completion_tokens : g.chunks;
  }
  function rate(g) {
    const n = tokensSoFar(g);
    const span = (g.tLast - g.tFirst) / 1000;
    // Over a few milliseconds (a reply that arrived in one burst) a rate means nothing.
    return n > 1 && span >= 0.05 ? (n - 1) / span : 0;
  }

  function updateLive() {
    const g = gen;
    if (!g) return;
    const n = tokensSoFar(g);
    const ctx = serverStatus && serverStatus.max_model_len;
    const limit = g.limit || ctx || 0;
    const bar = $('live-bar');
    bar.style.width = limit ? clamp(100 * n / limit, 0, 100).toFixed(1) + '%' : '0%';
    const prog = bar.parentElement;
    prog.setAttribute('aria-valuenow', String(n));
    if (limit) prog.setAttribute('aria-valuemax', String(limit)); else prog.removeAttribute('aria-valuemax');
    const parts = [limit ? `${fmtNum(n)} / ${fmtNum(limit)} tokens` : `${fmtNum(n)} tokens`];
    const tps = rate(g);
    if (tps) parts.push(`${tps.toFixed(1)} tok/s`);
    if (g.tFirst) parts.push(`TTFT ${fmtMs(g.tFirst - g.t0)}`);
    else parts.push(g.msg.content || g.msg.reasoning ? '' : 'waiting for the first token…');
    $('live-text').textContent = parts.filter(Boolean).join(' · ');
  }

  function finish(g, error) {
    const m = g.msg;
    if (g.stopped) m.stopped = true;
    if (error) m.error = error;
    if (!m.thinkingMs && m.reasoning && g.tFirst) m.thinkingMs = (g.tLast || now()) - g.tFirst;
    if (g.tFirst) {
      m.stats = {
        prompt_tokens: g.usage ? g.usage.prompt_tokens : null,
        completion_tokens: tokensSoFar(g),
        tps: rate(g) || null,
        ttft_ms: g.tFirst - g.t0,
        finish_reason: g.stopped ? null : g.finish,
      };
    }
    gen = null;
    setGenerating(false);
    // The server has let go of the request by now or very soon: show it without waiting.
    clearTimeout(statusTimer);
    statusTimer = setTimeout(pollStatus, 300);
    save(g.conv);
    renderList();
    if (g.conv.id === currentId) {
      renderConversation();
      scrollToBottom(false);
    }
  }

  function stopGeneration() {
    if (!gen) return;
    gen.stopped = true;
    gen.controller.abort();
  }

  // ---- Composer ---------------------------------------------------------------------------------

  const input = $('input');
  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.4) + 'px';
    updateSendEnabled();
  }
  input.addEventListener('input', autosize);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      if (!gen) sendMessage(input.value);
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    sendMessage(input.value);
  });
  $('stop').addEventListener('click', stopGeneration);
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    if ($('settings').open) return;
    if (gen) { e.preventDefault(); stopGeneration(); return; }
    if (isNarrow()) closeDrawersOnNarrow();
  });
  for (const b of document.querySelectorAll('.suggestion')) {
    b.addEventListener('click', () => {
      input.value = b.textContent;
      autosize();
      input.focus();
    });
  }

  // Delegated: code-block copy buttons are re-created on every render of a streaming reply.
  $('messages').addEventListener('click', async (e) => {
    const b = e.target.closest('.code-copy');
    if (!b) return;
    const code = b.closest('.code-block').querySelector('pre');
    const ok = await copyText(code.textContent);
    toast(ok ? 'Code copied' : 'Could not copy');
    const label = b.querySelector('span');
    if (ok && label) { label.textContent = 'Copied'; setTimeout(() => { label.textContent = 'Copy'; }, 1200); }
  });

  // ---- Voice input ------------------------------------------------------------------------------

  const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  if (Recognition) {
    const mic = $('mic');
    mic.hidden = false;
    let rec = null;
    mic.addEventListener('click', () => {
      if (rec) { rec.stop(); return; }
      rec = new Recognition();
      rec.lang = navigator.language || 'en-US';
      rec.interimResults = true;
      rec.continuous = false;
      const before = input.value && !/\s$/.test(input.value) ? input.value + ' ' : input.value;
      rec.onresult = (ev) => {
        let text = '';
        for (let i = 0; i < ev.results.length; i++) text += ev.results[i][0].transcript;
        input.value = before + text;
        autosize();
      };
      rec.onerror = (ev) => {
        if (ev.error === 'not-allowed' || ev.error === 'service-not-allowed') toast('The browser did not allow the microphone');
        else if (ev.error !== 'no-speech' && ev.error !== 'aborted') toast('Voice input failed: ' + ev.error);
      };
      rec.onend = () => {
        rec = null;
        mic.setAttribute('aria-pressed', 'false');
        input.focus();
      };
      try {
        rec.start();
        mic.setAttribute('aria-pressed', 'true');
      } catch (err) {
        rec = null;
        toast('Voice input is not available');
      }
    });
  }

  // ---- Settings dialog --------------------------------------------------------------------------

  const dlg = $('settings');
  function fillSettings(s) {
    $('set-system').value = s.systemPrompt;
    for (const r of document.querySelectorAll('input[name="effort"]')) r.checked = r.value === s.reasoningEffort;
    $('set-temperature').value = s.temperature;
    $('set-top-p').value = s.topP;
    $('set-max-tokens').value = s.maxTokens || '';
    $('set-api-key').value = s.apiKey;
  }
  function readNumber(id, lo, hi, fallback) {
    const v = parseFloat($(id).value);
    return Number.isFinite(v) ? clamp(v, lo, hi) : fallback;
  }
  $('settings-open').addEventListener('click', () => {
    fillSettings(settings);
    dlg.showModal();
  });
  $('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const effort = document.querySelector('input[name="effort"]:checked');
    settings = {
      systemPrompt: $('set-system').value,
      reasoningEffort: effort ? effort.value : DEFAULTS.reasoningEffort,
      temperature: readNumber('set-temperature', 0, 2, DEFAULTS.temperature),
      topP: readNumber('set-top-p', 0, 1, DEFAULTS.topP),
      maxTokens: Math.floor(readNumber('set-max-tokens', 0, 1e7, 0)),
      apiKey: $('set-api-key').value.trim(),
    };
    storage.set(SETTINGS_KEY, JSON.stringify(settings));
    dlg.close();
    toast('Settings saved');
    pollStatus();
  });
  for (const id of ['settings-cancel', 'settings-x']) $(id).addEventListener('click', () => dlg.close());
  $('settings-reset').addEventListener('click', () => fillSettings(Object.assign({}, DEFAULTS, { apiKey: $('set-api-key').value })));
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); });

  // ---- Panels: sidebar drawer and status panel --------------------------------------------------

  const narrowQuery = window.matchMedia('(max-width: 800px)');
  const isNarrow = () => narrowQuery.matches;
  const app = $('app');
  function setSidebar(open) {
    app.classList.toggle('no-sidebar', !open);
    $('sidebar-toggle').setAttribute('aria-expanded', String(open));
    if (open && isNarrow()) setStatus(false, true);
    syncBackdrop();
  }
  function setStatus(open, transient) {
    app.classList.toggle('no-status', !open);
    $('status-toggle').setAttribute('aria-expanded', String(open));
    if (!isNarrow() && !transient) storage.set(STATUS_KEY, open ? 'shown' : 'hidden');
    if (open && isNarrow()) setSidebar(false);
    syncBackdrop();
    if (open) pollStatus();
  }
  function syncBackdrop() {
    $('backdrop').hidden = !(isNarrow() && (!app.classList.contains('no-sidebar') || !app.classList.contains('no-status')));
  }
  function closeDrawersOnNarrow() {
    if (!isNarrow()) return;
    setSidebar(false);
    setStatus(false, true);
  }
  function layoutForWidth() {
    if (isNarrow()) {
      setSidebar(false);
      setStatus(false, true);
    } else {
      setSidebar(true);
      setStatus(storage.get(STATUS_KEY) !== 'hidden', true);
    }
  }
  narrowQuery.addEventListener('change', layoutForWidth);
  $('sidebar-toggle').addEventListener('click', () => setSidebar(app.classList.contains('no-sidebar')));
  $('sidebar-close').addEventListener('click', () => setSidebar(false));
  $('status-toggle').addEventListener('click', () => setStatus(app.classList.contains('no-status')));
  $('status-close').addEventListener('click', () => setStatus(false, true));
  $('backdrop').addEventListener('click', closeDrawersOnNarrow);
  $('new-chat').addEventListener('click', newChat);
  $('search').addEventListener('input', renderList);
  $('banner-close').addEventListener('click', () => banner(''));

  // ---- Server status ----------------------------------------------------------------------------

  let demoSuggestions = false;
  let statusTimer = 0;
  let statusInFlight = false;
  async function pollStatus() {
    clearTimeout(statusTimer);
    if (!statusInFlight) {
      statusInFlight = true;
      try {
        const r = await fetch('/status', { cache: 'no-store', headers: authHeaders() });
        if (!r.ok) throw new Error('HTTP ' + r.status);
        serverStatus = await r.json();
        renderStatus(serverStatus, null);
      } catch (e) {
        renderStatus(null, e);
      } finally {
        statusInFlight = false;
      }
    }
    // Quicker while a reply streams, so the KV-cache figure moves with it; idle when hidden.
    const delay = document.hidden ? 15000 : gen ? 1500 : 2500;
    statusTimer = setTimeout(pollStatus, delay);
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) pollStatus(); });

  function row(k, v, testid) {
    return el('div', { class: 'stat-row', testid }, [el('span', { class: 'k', text: k }), el('span', { class: 'v', text: v })]);
  }
  function meter(fraction, testid) {
    const m = el('div', { class: 'meter' + (fraction > 0.85 ? ' high' : ''), testid });
    const fill = el('div');
    fill.style.width = clamp(fraction * 100, 0, 100).toFixed(1) + '%';
    m.append(fill);
    return m;
  }
  function section(title, children, testid) {
    return el('section', { class: 'stat-section', testid }, [el('h3', { text: title }), ...children]);
  }

  function renderStatus(st, err) {
    const dot = $('status-dot');
    const body = $('status-body');
    const badge = $('model-badge');
    if (!st) {
      dot.className = 'dot down';
      dot.title = 'unreachable';
      body.replaceChildren(el('p', { class: 'muted', testid: 'status-error',
        text: 'The server does not answer' + (err && err.message ? ` (${err.message})` : '') + '. Retrying…' }));
      return;
    }
    const running = (st.requests && st.requests.running) || 0;
    const waiting = (st.requests && st.requests.waiting) || 0;
    dot.className = 'dot ' + (!st.ready ? 'busy' : running || waiting ? 'busy' : 'ok');
    dot.title = !st.ready ? 'loading the model' : running ? 'generating' : 'idle';
    badge.hidden = !st.model;
    badge.textContent = (st.model || '') + (st.demo ? ' · demo' : '');
    $('welcome-demo').hidden = !st.demo;
    if (st.demo && !demoSuggestions) {
      // What the demo model was trained for, instead of questions only a real model answers.
      demoSuggestions = true;
      const texts = ['What is 2 + 3?', 'What is the capital of Japan?', 'How many letters are in the word banana?'];
      document.querySelectorAll('.suggestion').forEach((b, i) => { if (texts[i]) b.textContent = texts[i]; });
      // Sampled at temperature 1 a model this small slips ("2 + 3 = 7"); greedy, it answers what
      // it was trained for. A temperature the user saved still wins.
      let saved = {};
      try { saved = JSON.parse(storage.get(SETTINGS_KEY) || '{}') || {}; } catch (e) { saved = {}; }
      if (!('temperature' in saved)) settings.temperature = 0;
    }
    $('welcome-model').textContent = st.model ? `${st.model}${st.demo ? ' (demo model)' : ''} · ${fmtNum(st.max_model_len)} tokens of context` : '';

    const model = el('div', { class: 'stat-model', testid: 'status-model' }, [document.createTextNode(st.model || 'unknown')]);
    if (st.demo) model.append(el('span', { class: 'tag', testid: 'status-demo', text: 'demo model' }));
    if (!st.ready) model.append(el('span', { class: 'tag warn', text: 'loading' }));
    const modelRows = [model,
      row('Context', `${fmtNum(st.max_model_len)} tokens`, 'status-context'),
      row('Version', st.version || '?'),
      row('Uptime', fmtDuration(st.uptime_s || 0), 'status-uptime')];
    if (st.auth_required) modelRows.push(row('API key', settings.apiKey ? 'required · set' : 'required · not set', 'status-auth'));

    const reqRows = [row('Running', String(running), 'status-running'), row('Waiting', String(waiting), 'status-waiting')];
    if (st.tokens) {
      reqRows.push(row('Prompt tokens', fmtNum(st.tokens.prompt || 0)));
      reqRows.push(row('Generated tokens', fmtNum(st.tokens.generation || 0)));
    }

    const kv = st.kv_cache || {};
    const usage = Number(kv.usage) || 0;
    const kvRows = [
      row('Used', fmtPercent(usage), 'status-kv-percent'),
      meter(usage, 'status-kv-bar'),
      row('Blocks', `${fmtNum(kv.blocks_used || 0)} / ${fmtNum(kv.blocks_total || 0)}`, 'status-kv-blocks'),
      row('Capacity', `${fmtNum(kv.tokens_capacity || 0)} tokens`),
    ];
    if (kv.prefix_cache_hit_rate != null) kvRows.push(row('Prefix-cache hits', `${(kv.prefix_cache_hit_rate * 100).toFixed(0)} %`));

    const devs = (st.devices || []).map((d) => {
      const used = Number(d.memory_used) || 0, total = Number(d.memory_total) || 0;
      const box = el('div', { class: 'device', testid: 'status-device', 'data-kind': d.kind || '' });
      box.append(el('div', { class: 'device-name', text: d.name || `${d.kind || 'device'} ${d.rank}` }),
        row('Memory', total ? `${fmtGB(used)} / ${fmtGB(total)} GB` : `${fmtGB(used)} GB`, 'status-device-memory'));
      if (total) box.append(meter(used / total));
      const extra = [];
      if (d.weights_bytes) extra.push(`weights ${fmtBytes(d.weights_bytes)}`);
      if (d.kv_cache_bytes) extra.push(`KV cache ${fmtBytes(d.kv_cache_bytes)}`);
      if (extra.length) box.append(el('div', { class: 'muted', text: extra.join(' · ') }));
      return box;
    });

    body.replaceChildren(
      section('Model', modelRows, 'status-model-section'),
      section('Requests', reqRows, 'status-requests'),
      section('KV cache', kvRows, 'status-kv'),
      section(devs.length > 1 ? 'Devices' : 'Device', devs.length ? devs : [el('p', { class: 'muted', text: 'none reported' })], 'status-devices'));
  }

  // ---- Export and import ------------------------------------------------------------------------

  const EXPORT_FORMAT = 'gptoss-webui-conversations';
  $('export').addEventListener('click', async () => {
    const all = await dbAll();
    const data = { format: EXPORT_FORMAT, version: 1, exported: new Date().toISOString(), conversations: all };
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `gptoss-chats-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`Exported ${all.length} chat${all.length === 1 ? '' : 's'}`);
  });
  $('import').addEventListener('click', () => $('import-file').click());
  $('import-file').addEventListener('change', async (e) => {
    const file = e.target.files && e.target.files[0];
    e.target.value = '';
    if (!file) return;
    let data;
    try {
      data = JSON.parse(await file.text());
    } catch (err) {
      banner('That file is not JSON: ' + err.message);
      return;
    }
    const list = Array.isArray(data) ? data : data && Array.isArray(data.conversations) ? data.conversations : null;
    if (!list) {
      banner('That file holds no chats (expected an export of this page).');
      return;
    }
    let added = 0, updated = 0, skipped = 0;
    for (const raw of list) {
      const conv = cleanImported(raw);
      if (!conv) { skipped++; continue; }
      const have = convs.get(conv.id);
      // The same id is the same chat: keep whichever copy changed last.
      if (have && have.updated >= conv.updated) { skipped++; continue; }
      if (gen && gen.conv.id === conv.id) { skipped++; continue; }
      if (have) updated++; else added++;
      convs.set(conv.id, conv);
      await save(conv, false);
    }
    renderList();
    if (currentId && convs.has(currentId)) renderConversation();
    toast(`Imported ${added} new chat${added === 1 ? '' : 's'}` + (updated ? `, updated ${updated}` : '') + (skipped ? `, ${skipped} already here` : ''));
  });

  function cleanImported(raw) {
    if (!raw || typeof raw !== 'object' || !Array.isArray(raw.messages)) return null;
    const messages = raw.messages
      .filter((m) => m && (m.role === 'user' || m.role === 'assistant') && typeof (m.content || '') === 'string')
      .map((m) => {
        const out = { id: typeof m.id === 'string' && m.id ? m.id : newId(), role: m.role, content: m.content || '', time: Number(m.time) || Date.now() };
        if (m.role === 'assistant') {
          out.reasoning = typeof m.reasoning === 'string' ? m.reasoning : '';
          if (m.stats && typeof m.stats === 'object') out.stats = m.stats;
          if (m.stopped) out.stopped = true;
          if (typeof m.error === 'string') out.error = m.error;
          if (Number(m.thinkingMs)) out.thinkingMs = Number(m.thinkingMs);
        }
        return out;
      });
    const id = typeof raw.id === 'string' && raw.id ? raw.id : newId();
    const firstUser = messages.find((m) => m.role === 'user');
    return {
      id,
      title: typeof raw.title === 'string' && raw.title.trim() ? raw.title.trim() : titleFrom(firstUser ? firstUser.content : ''),
      titleEdited: !!raw.titleEdited,
      created: Number(raw.created) || Date.now(),
      updated: Number(raw.updated) || Date.now(),
      messages,
    };
  }

  // ---- Start ------------------------------------------------------------------------------------

  async function start() {
    try {
      for (const c of await dbAll()) convs.set(c.id, c);
    } catch (e) {
      banner('This browser does not keep chats (IndexedDB is unavailable): ' + (e && e.message ? e.message : e));
    }
    // A reply that was streaming when the page went away is finished as stopped.
    for (const c of convs.values()) {
      const last = c.messages[c.messages.length - 1];
      if (last && last.role === 'assistant' && !last.stats && !last.error && !last.stopped && (last.content || last.reasoning)) {
        last.stopped = true;
        save(c, false);
      }
    }
    openConversation(decodeURIComponent(location.hash.slice(1)) || null);
    document.documentElement.setAttribute('data-ready', 'true');
    autosize();
    if (!isNarrow()) input.focus();
  }
  layoutForWidth();
  pollStatus();
  start();
})();
