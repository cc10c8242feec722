// The chat page: sends questions to POST /stream and renders the Server-Sent Events as they
// arrive (fetch + ReadableStream: EventSource can't POST), shows tool calls, renders
// [[n]](source) citations as links, keeps the thread id in the URL and reloads the thread
// from GET /threads/{id}. Model text only ever becomes DOM text nodes (never innerHTML); links
// are made only for http(s) URLs and in-page anchors.
"use strict";

(() => {
  const KEY_STORAGE = "smartbot.functionKey";
  const API = new URL(".", window.location.href); // the app's root, next to /chat
  const $ = (id) => document.getElementById(id);
  const ui = {
    messages: $("messages"), welcome: $("welcome"), notice: $("notice"), form: $("composer"),
    question: $("question"), send: $("send"), newChat: $("new-chat"),
    keyPanel: $("key-panel"), keyForm: $("key-form"), key: $("function-key"),
  };
  let threadId = new URLSearchParams(window.location.search).get("thread_id") || "";
  let running = null; // {controller, turn} of the stream in progress
  let turnCount = 0;

  // ---- small helpers ---------------------------------------------------------------------
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function functionKey() { return window.sessionStorage.getItem(KEY_STORAGE) || ""; }

  function apiHeaders(json) {
    const headers = { Accept: json ? "text/event-stream" : "application/json" };
    if (json) headers["Content-Type"] = "application/json";
    const key = functionKey();
    if (key) headers["x-functions-key"] = key;
    return headers;
  }

  function setThread(id) {
    threadId = id;
    const url = new URL(window.location.href);
    if (id) url.searchParams.set("thread_id", id); else url.searchParams.delete("thread_id");
    window.history.replaceState(null, "", url);
  }

  function notify(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  // App Service Authentication (Easy Auth, or the app behind it) answers 401 with a Bearer
  // challenge when nobody is signed in; a missing function key is a 401 without one.
  function needsSignIn(resp) {
    return resp.status === 401 && /^\s*bearer/i.test(resp.headers.get("WWW-Authenticate") || "");
  }

  function askToSignIn() {
    const login = new URL(".auth/login/aad", API);
    login.searchParams.set("post_login_redirect_uri",
      window.location.pathname + window.location.search);
    ui.notice.replaceChildren("Sign in to chat: this service keeps each user\u2019s " +
      "conversations apart. ", el("a", { href: login.href, text: "Sign in" }));
    ui.notice.hidden = false;
  }

  function askForKey(status) {
    notify(`The server answered ${status}: it needs a function key. Enter it under ` +
      "\u201cFunction key\u201d and try again.");
    ui.keyPanel.open = true;
    ui.key.focus();
  }

  async function errorDetail(resp) {
    try {
      const body = await resp.json();
      if (body && typeof body.detail === "string") return body.detail;
    } catch (_) { /* not JSON */ }
    return resp.statusText || "request failed";
  }

  function nearBottom() {
    const doc = document.scrollingElement;
    return doc.scrollHeight - doc.scrollTop - doc.clientHeight < 120;
  }

  function scrollDown() { document.scrollingElement.scrollTop = 1e9; }

  // ---- answer text -> DOM (a safe subset of Markdown) ------------------------------------
  const SAFE_URL = /^https?:\/\/[^\s]+$/i;
  const INLINE = /\[\[(\d+)\]\]\(((?:[^()\s]|\([^()\s]*\))+)\)|\[([^\]\n]+)\]\((https?:\/\/[^()\s]+)\)|`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;

  function inline(text, ctx) {
    const out = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) out.append(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[1]) out.append(citation(m[1], m[2], ctx));
      else if (m[3]) out.append(el("a", { href: m[4], target: "_blank", rel: "noopener noreferrer", text: m[3] }));
      else if (m[5]) out.append(el("code", { text: m[5] }));
      else out.append(el("strong", { text: m[6] }));
    }
    if (last < text.length) out.append(text.slice(last));
    return out;
  }

  function citation(n, source, ctx) {
    if (!ctx.sources.has(n)) ctx.sources.set(n, source);
    const safe = SAFE_URL.test(source);
    const link = el("a", {
      class: "cite", href: safe ? source : `#${ctx.id}-src-${n}`, title: source, text: `[${n}]`,
    });
    if (safe) { link.target = "_blank"; link.rel = "noopener noreferrer"; }
    return link;
  }

  function renderMarkdown(text, id) {
    const ctx = { id, sources: new Map() };
    const out = document.createDocumentFragment();
    const lines = text.split("\n");
    let para = null;
    let list = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^\s*```/.test(line)) { // fenced code, possibly still open while streaming
        const code = [];
        while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i]);
        out.append(el("pre", {}, el("code", { text: code.join("\n") })));
        para = list = null;
        continue;
      }
      const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (item) {
        const ordered = /\d/.test(item[1]);
        if (!list || list.ordered !== ordered) {
          list = { ordered, node: el(ordered ? "ol" : "ul") };
          out.append(list.node);
        }
        list.node.append(el("li", {}, inline(item[2], ctx)));
        para = null;
        continue;
      }
      if (!line.trim()) { para = list = null; continue; }
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) {
        out.append(el("p", { class: "heading" }, el("strong", {}, inline(heading[1], ctx))));
        para = list = null;
        continue;
      }
      list = null;
      if (para) para.append(el("br"));
      else { para = el("p"); out.append(para); }
      para.append(inline(line, ctx));
    }
    return { fragment: out, sources: ctx.sources };
  }

  // ---- one message in the conversation ---------------------------------------------------
  function hideWelcome() { ui.welcome.hidden = true; }

  function addUser(text) {
    hideWelcome();
    const item = el("li", { class: "msg user" },
      el("div", { class: "who", text: "You" }), el("div", { class: "bubble", text }));
    ui.messages.append(item);
    return item;
  }

  class Turn {
    constructor(question, agent) {
      this.id = `m${++turnCount}`;
      this.question = question;
      this.text = "";
      this.tools = new Map();
      this.agentLabel = el("span", { class: "agent", text: agent || "" });
      this.toolsBox = el("div", { class: "tools" });
      this.answer = el("div", { class: "answer", "aria-busy": "true" });
      this.sourcesBox = el("div", { class: "sources" });
      this.status = el("div", { class: "status" });
      this.node = el("li", { class: "msg assistant", id: this.id, "data-state": "streaming" },
        el("div", { class: "who" }, "Bot ", this.agentLabel),
        this.toolsBox, this.answer, this.sourcesBox, this.status);
      ui.messages.append(this.node);
    }

    setAgent(agent) { if (agent) this.agentLabel.textContent = agent; }

    waiting(text) {
      if (this.node.dataset.state !== "streaming") return;
      this.status.className = "status working";
      this.status.textContent = text;
    }

    render() {
      const follow = nearBottom();
      const { fragment, sources } = renderMarkdown(this.text, this.id);
      this.answer.replaceChildren(fragment);
      this.sourcesBox.replaceChildren();
      if (sources.size) {
        const list = el("ol", { class: "source-list" });
        for (const [n, source] of sources) {
          const body = SAFE_URL.test(source)
            ? el("a", { href: source, target: "_blank", rel: "noopener noreferrer", text: source })
            : el("code", { text: source });
          list.append(el("li", { id: `${this.id}-src-${n}`, value: n }, body));
        }
        this.sourcesBox.append(el("div", { class: "sources-title", text: "Sources" }), list);
      }
      if (this.text && this.node.dataset.state === "streaming") this.status.textContent = "";
      if (follow) scrollDown();
    }

    toolStart(event) {
      this.setAgent(event.agent);
      const summary = el("summary", {},
        el("span", { class: "tool-name", text: event.name }),
        el("span", { class: "tool-state", text: "running…" }));
      const box = el("details", { class: "tool running", "data-tool-call-id": event.tool_call_id },
        summary, el("div", { class: "tool-label", text: "Input" }),
        el("pre", { text: event.input || "" }));
      this.tools.set(event.tool_call_id, box);
      this.toolsBox.append(box);
      this.waiting(`Running ${event.name}…`);
    }

    toolEnd(event) {
      let box = this.tools.get(event.tool_call_id);
      if (!box) { this.toolStart({ ...event, input: "" }); box = this.tools.get(event.tool_call_id); }
      const ok = event.status !== "error";
      box.className = `tool ${ok ? "done" : "failed"}`;
      box.querySelector(".tool-state").textContent = ok ? "done" : "failed";
      box.append(el("div", { class: "tool-label", text: "Output" }),
        el("pre", { text: event.output || "" }));
      this.waiting("Writing the answer…");
    }

    finish(text) {
      if (typeof text === "string") this.text = text;
      this.node.dataset.state = "done";
      this.answer.setAttribute("aria-busy", "false");
      this.status.className = "status";
      this.status.textContent = "";
      this.render();
    }

    problem(state, message, retry) {
      this.node.dataset.state = state;
      this.answer.setAttribute("aria-busy", "false");
      this.render();
      this.status.className = "status problem";
      this.status.setAttribute("role", "alert");
      this.status.replaceChildren(el("span", { text: message }));
      if (retry) {
        const again = el("button", { type: "button", class: "secondary retry", text: "Retry" });
        again.addEventListener("click", () => { again.disabled = true; send(this.question); });
        this.status.append(again);
      }
    }
  }

  function addAnswer(text, agent) {
    const turn = new Turn("", agent);
    turn.finish(text);
    return turn;
  }

  // ---- Server-Sent Events over fetch -----------------------------------------------------
  // The SSE parsing rules: lines end with \r\n, \r or \n; a blank line dispatches the event;
  // `:` starts a comment (keep-alive); one space after `field:` is dropped; data lines join
  // with \n.
  function sseParser(onEvent) {
    let buffer = "";
    let event = "";
    let data = [];
    const line = (text) => {
      if (text === "") {
        if (data.length) onEvent({ type: event || "message", data: data.join("\n") });
        event = ""; data = [];
        return;
      }
      if (text[0] === ":") { onEvent({ type: "comment", data: text.slice(1).trim() }); return; }
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    };
    return (chunk) => {
      buffer += chunk;
      let match;
      while ((match = /\r\n|\r|\n/.exec(buffer))) {
        // a lone \r at the end may be the first half of \r\n: wait for more
        if (match[0] === "\r" && match.index === buffer.length - 1) break;
        line(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
      }
    };
  }

  function handle(turn, event) {
    switch (event.type) {
      case "metadata": {
        const meta = JSON.parse(event.data);
        if (meta.thread_id && meta.thread_id !== threadId) setThread(meta.thread_id);
        break;
      }
      case "data": turn.text += event.data; break;
      case "on_tool_start": turn.toolStart(JSON.parse(event.data)); break;
      case "on_tool_end": turn.toolEnd(JSON.parse(event.data)); break;
      case "end": turn.finish(event.data); break;
      case "error": {
        let info = {};
        try { info = JSON.parse(event.data); } catch (_) { info = { message: event.data }; }
        const code = info.status_code ? ` (${info.status_code})` : "";
        turn.problem("error", `Error${code}: ${info.message || "the run failed"}`, true);
        break;
      }
      case "comment": turn.waiting(turn.text ? "" : "Still working…"); break;
      default: break; // unknown events are ignored, as SSE clients do
    }
  }

  async function send(question) {
    if (running) return;
    addUser(question);
    const turn = new Turn(question);
    turn.waiting("Thinking…");
    scrollDown();
    const controller = new AbortController();
    running = { controller, turn };
    setBusy(true);
    try {
      const resp = await fetch(new URL("stream", API), {
        method: "POST", headers: apiHeaders(true), signal: controller.signal,
        body: JSON.stringify({ user_input: question, thread_id: threadId }),
      });
      if (!resp.ok) {
        const detail = await errorDetail(resp);
        if (needsSignIn(resp)) askToSignIn();
        else if (resp.status === 401 || resp.status === 403) askForKey(resp.status);
        turn.problem("error", `Error (${resp.status}): ${detail}`, resp.status >= 500);
        return;
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      const push = sseParser((event) => handle(turn, event));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        push(value);
        if (turn.node.dataset.state === "streaming") turn.render();
      }
      push("\n\n"); // a final event without its blank line
      if (turn.node.dataset.state === "streaming") {
        turn.problem("cut", "The connection closed before the answer was complete.", true);
      }
    } catch (err) {
      if (turn.node.dataset.state !== "streaming") return;
      if (controller.signal.aborted) turn.problem("stopped", "Stopped.", true);
      else turn.problem("cut", `The connection was lost before the answer was complete (${err.message}).`, true);
    } finally {
      running = null;
      setBusy(false);
    }
  }

  function setBusy(busy) {
    ui.send.textContent = busy ? "Stop" : "Send";
    ui.send.setAttribute("aria-label", busy ? "Stop the answer" : "Send");
    ui.send.classList.toggle("stop", busy);
  }

  // ---- loading a thread, starting a new one ----------------------------------------------
  async function loadThread(id) {
    let resp;
    try {
      resp = await fetch(new URL(`threads/${encodeURIComponent(id)}`, API), { headers: apiHeaders(false) });
    } catch (err) {
      notify(`Could not load the conversation: ${err.message}`);
      return;
    }
    if (needsSignIn(resp)) { askToSignIn(); return; }
    if (resp.status === 401 || resp.status === 403) { askForKey(resp.status); return; }
    if (resp.status === 404) {
      notify("That conversation was not found (deleted or expired); this is a new one.");
      ui.welcome.hidden = false;
      setThread("");
      return;
    }
    if (!resp.ok) { notify(`Could not load the conversation: ${await errorDetail(resp)}`); return; }
    const body = await resp.json();
    for (const message of body.messages || []) {
      const content = typeof message.content === "string" ? message.content : "";
      if (message.role === "user") addUser(content);
      else if (message.role === "assistant" && content.trim()) addAnswer(content, message.agent);
      // other roles (tool traffic, system) are not part of the conversation shown
    }
    scrollDown();
  }

  function newChat() {
    if (running) running.controller.abort();
    ui.messages.replaceChildren();
    ui.welcome.hidden = false;
    notify("");
    setThread("");
    ui.question.value = "";
    autosize();
    ui.question.focus();
  }

  // ---- wiring ------------------------------------------------------------------------------
  function autosize() {
    ui.question.style.height = "auto";
    ui.question.style.height = `${Math.min(ui.question.scrollHeight, 200)}px`;
  }

  function submit() {
    if (running) { running.controller.abort(); return; }
    const question = ui.question.value.trim();
    if (!question) { ui.question.focus(); return; }
    ui.question.value = "";
    autosize();
    notify("");
    send(question);
  }

  ui.form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  ui.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  ui.question.addEventListener("input", autosize);
  ui.newChat.addEventListener("click", newChat);
  for (const button of document.querySelectorAll(".suggestion")) {
    button.addEventListener("click", () => { ui.question.value = button.textContent; submit(); });
  }
  ui.keyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = ui.key.value.trim();
    if (key) window.sessionStorage.setItem(KEY_STORAGE, key);
    else window.sessionStorage.removeItem(KEY_STORAGE);
    ui.keyPanel.open = false;
    notify(key ? "Function key saved for this tab." : "Function key cleared.");
    if (key && threadId && !ui.messages.children.length) loadThread(threadId);
    ui.question.focus();
  });

  // A key given as ?code= (the Functions way) is kept for this tab and taken out of the URL.
  const url = new URL(window.location.href);
  if (url.searchParams.has("code")) {
    window.sessionStorage.setItem(KEY_STORAGE, url.searchParams.get("code"));
    url.searchParams.delete("code");
    window.history.replaceState(null, "", url);
  }
  ui.key.value = functionKey();
  if (threadId) { hideWelcome(); loadThread(threadId); }
  ui.question.focus();
})();
