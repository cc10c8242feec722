// The chat page: asks POST /stream and draws its Server-Sent Events as they arrive, keeps the
// thread in the URL (each conversation its own history entry) and in the thread list, and
// reads a thread back from GET /threads/{id}?include=tools. Model text and tool output never
// become live HTML (see markdown.js).

import { API, CUT_MESSAGE, Problem, call, capabilities, functionKey, getJson, keyFromUrl,
  problemOf, setFunctionKey } from "./api.js";
import { announce, copyText, el, flash, titleOf } from "./dom.js";
import { Composer } from "./composer.js";
import { AnswerView, turnsOf, userMessage } from "./message.js";
import { Sidebar } from "./sidebar.js";
import { showPreview } from "./sources.js";
import { readEvents } from "./sse.js";
import { ThreadStore } from "./threads.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"), welcome: $("welcome"), notice: $("notice"), form: $("composer"),
  question: $("question"), send: $("send"), stop: $("stop"), counter: $("counter"),
  hint: $("composer-hint"), newChat: $("new-chat"), keyPanel: $("key-panel"),
  keyForm: $("key-form"), key: $("function-key"), dialog: $("source-dialog"), end: $("end-of-chat"),
};
const NONE = { maxInputChars: 0, listThreads: false, rename: false, feedback: false, regenerate: false };
const state = { threadId: "", running: null, caps: NONE, views: [], follow: true, afterKey: null };
const store = new ThreadStore();
const composer = new Composer(ui, {
  ask: (question) => { notify(""); ask(question); },
  stop: () => stop(),
});
const sidebar = new Sidebar({
  sidebar: $("sidebar"), list: $("thread-list"), empty: $("threads-empty"), more: $("threads-more"),
  where: $("threads-where"), scrim: $("scrim"), open: $("open-sidebar"), close: $("close-sidebar"),
  main: $("main-col"),
}, store, {
  open: (id) => openThread(id),
  deleted: (id) => {
    if (id === state.threadId) newChat(false);
    else sidebar.setCurrent(state.threadId);
    if (document.activeElement === document.body) ui.question.focus();
  },
  renamed: () => setTitle(),
  problem: (text) => notify(text),
});

// ---- the page around the conversation ------------------------------------------------------
function notify(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function askToSignIn() {
  const login = new URL(".auth/login/aad", API);
  login.searchParams.set("post_login_redirect_uri", window.location.pathname + window.location.search);
  ui.notice.replaceChildren("Sign in to chat: this service keeps each user\u2019s " +
    "conversations apart. ", el("a", { href: login.href, text: "Sign in" }));
  ui.notice.hidden = false;
}

function showKeyPanel(open) {
  ui.keyPanel.hidden = false;
  if (!open) return;
  ui.keyPanel.open = true;
  ui.key.focus();
}

/** The page's reaction to a failure that isn't only the answer's (sign-in, a key). */
function handleProblem(problem) {
  if (problem.signIn) askToSignIn();
  else if (problem.needsKey) {
    notify(`The server answered ${problem.status}: it needs a function key. Enter it under ` +
      "\u201cFunction key\u201d.");
    showKeyPanel(true);
  }
}

function setTitle() {
  const thread = state.threadId ? store.get(state.threadId) : null;
  document.title = thread && thread.title ? `${thread.title} \u2013 Smart bot` : "Smart bot";
}

function threadFromUrl() { return new URLSearchParams(window.location.search).get("thread_id") || ""; }

/** The current thread; `push` makes a new history entry (navigation), else this entry becomes
 * the thread's (a new chat that got its id). */
function setThread(id, push) {
  state.threadId = id;
  const url = new URL(window.location.href);
  if (id) url.searchParams.set("thread_id", id); else url.searchParams.delete("thread_id");
  if (url.href !== window.location.href || push) {
    window.history[push ? "pushState" : "replaceState"]({ thread_id: id }, "", url);
  }
  sidebar.setCurrent(id);
  setTitle();
}

// ---- the conversation ------------------------------------------------------------------------
const hooks = {
  retry: (view) => retry(view),
  regenerate: (view) => {
    runOn(view, { thread_id: state.threadId, regenerate: true });
    ui.question.focus();
  },
  feedback: (view, score, comment) => sendFeedback(view, score, comment),
  canRegenerate: (view) => state.caps.regenerate && !state.running && Boolean(state.threadId)
    && view === lastView(),
  canFeedback: () => state.caps.feedback && Boolean(state.threadId),
  painted: () => { if (state.follow) ui.end.scrollIntoView({ block: "end" }); },
};

function lastView() { return state.views[state.views.length - 1] || null; }

function addAnswer(question) {
  const view = new AnswerView(question, hooks);
  view.md.onPaint = hooks.painted;
  state.views.push(view);
  ui.messages.append(view.node);
  return view;
}

function clearConversation() {
  if (state.running) state.running.controller.abort();
  state.views = [];
  ui.messages.replaceChildren();
  notify("");
}

function refreshActions() { for (const view of state.views) view.drawActions(); }

// ---- running a turn ------------------------------------------------------------------------
function stop() {
  if (state.running) state.running.controller.abort();
}

function ask(question) {
  const previous = lastView();
  ui.welcome.hidden = true;
  ui.messages.append(userMessage(question));
  const view = addAnswer(question);
  if (previous) previous.drawActions(); // Regenerate and Retry belong to the last answer
  previous?.status.querySelector(".retry")?.remove();
  ui.end.scrollIntoView({ block: "end" });
  run(view, { user_input: question, thread_id: state.threadId });
}

/** Retry without asking twice: a question the server already has is answered again. */
function retry(view) {
  if (state.running || view !== lastView()) return;
  const again = view.started && state.caps.regenerate && state.threadId;
  runOn(view, again ? { thread_id: state.threadId, regenerate: true }
    : { user_input: view.question, thread_id: state.threadId });
  ui.question.focus();
}

function runOn(view, body) {
  if (state.running) return;
  view.reset();
  run(view, body);
}

async function run(view, body) {
  const controller = new AbortController();
  state.running = { controller, view };
  composer.setBusy(true);
  view.waiting("Thinking\u2026");
  let ended = false;
  try {
    const resp = await call("stream", { method: "POST", body, accept: "text/event-stream",
      signal: controller.signal });
    if (!resp.ok) {
      const problem = await problemOf(resp);
      handleProblem(problem);
      if (problem.needsKey) state.afterKey = view;
      view.problem(problem);
      return;
    }
    await readEvents(resp, (event) => { ended = onEvent(view, event) || ended; });
    if (!ended) view.problem({ message: CUT_MESSAGE }, "cut");
  } catch (err) {
    if (controller.signal.aborted) {
      if (view.state === "streaming") view.problem({ message: "Stopped." }, "stopped");
    } else if (err instanceof Problem) view.problem(err, "cut");
    else view.problem({ message: CUT_MESSAGE }, "cut");
  } finally {
    state.running = null;
    composer.setBusy(false);
    refreshActions();
  }
  if (ended && view.state === "done") reconcile(view);
}

function onEvent(view, event) {
  switch (event.type) {
    case "metadata": {
      const meta = JSON.parse(event.data);
      view.runId = meta.run_id || null;
      view.started = true;
      if (meta.thread_id && meta.thread_id !== state.threadId) {
        store.touch(meta.thread_id, { createdTitle: titleOf(view.question) });
        setThread(meta.thread_id, false);
      }
      return false;
    }
    case "data": view.append(event.data); return false;
    case "on_tool_start": view.toolStart(JSON.parse(event.data)); return false;
    case "on_tool_end": view.toolEnd(JSON.parse(event.data)); return false;
    case "end": view.finish(event.data); return true;
    case "error": {
      let info = {};
      try { info = JSON.parse(event.data); } catch (_) { info = { message: event.data }; }
      view.problem(new Problem(info.status_code || 0, info.message || "The run failed.",
        { retryAfter: Number(info.retry_after) || 0 }));
      return true;
    }
    case "comment": view.keepAlive(); return false;
    default: return false; // unknown events are ignored, as SSE clients do
  }
}

/** After an answer: the stored turn drawn over the live one (titles of the sources, the
 * answering specialist, the run), the thread first in the list. */
async function reconcile(view) {
  const id = state.threadId;
  let title = "";
  try {
    const thread = await getJson(`threads/${encodeURIComponent(id)}?include=tools`);
    title = thread.title || "";
    const turns = turnsOf(thread.messages);
    const last = turns[turns.length - 1];
    if (id === state.threadId && view === lastView() && !state.running && last && last.answered
        && last.question === view.question) view.applyStored(last);
  } catch (_) { /* what streamed stays */ }
  store.touch(id, { title, createdTitle: titleOf(view.question) });
  setTitle();
}

async function sendFeedback(view, score, comment) {
  const body = comment ? { score, comment } : { score };
  const path = `threads/${encodeURIComponent(state.threadId)}/runs/${encodeURIComponent(view.runId)}/feedback`;
  try {
    const resp = await call(path, { method: "POST", body });
    if (resp.ok) { announce("Thanks for the feedback."); return true; }
    const problem = await problemOf(resp);
    if (problem.missing) {
      state.caps = { ...state.caps, feedback: false };
      refreshActions();
      notify("This server doesn\u2019t take feedback.");
    } else notify(`Couldn\u2019t send the feedback: ${problem.message}`);
  } catch (problem) {
    notify(`Couldn\u2019t send the feedback: ${problem.message}`);
  }
  return false;
}

// ---- loading a thread, starting a new one --------------------------------------------------
function showThread(thread) {
  const turns = turnsOf(thread.messages);
  turns.forEach((turn, i) => {
    const last = i === turns.length - 1;
    if (turn.question !== null) ui.messages.append(userMessage(turn.question));
    const view = addAnswer(turn.question);
    view.started = true; // the server has the question: Retry answers it again
    if (turn.answered) view.applyStored(turn);
    else if (last && thread.active_run) view.waiting("An answer is still being written\u2026");
    else {
      view.applyStored(turn);
      view.problem({ message: "No answer was saved for this question." }, "cut", last);
    }
  });
  const first = turns.find((t) => t.question !== null);
  if (!store.get(thread.thread_id) || thread.title) {
    store.touch(thread.thread_id, { title: thread.title || "", createdTitle: titleOf(first ? first.question : "") });
  }
  setTitle();
  refreshActions();
  ui.end.scrollIntoView({ block: "end" });
}

async function loadThread(id) {
  ui.welcome.hidden = true;
  try {
    const thread = await getJson(`threads/${encodeURIComponent(id)}?include=tools`);
    if (id === state.threadId) showThread(thread);
  } catch (problem) {
    if (id !== state.threadId) return;
    if (problem.status === 404) {
      store.forget(id);
      newChat(false);
      notify("That conversation was not found (deleted or expired); this is a new one.");
    } else if (problem.signIn || problem.needsKey) handleProblem(problem);
    else notify(`Couldn\u2019t load the conversation: ${problem.message}`);
  }
}

function openThread(id, push = true) {
  if (id === state.threadId && state.views.length) return;
  clearConversation();
  setThread(id, push);
  loadThread(id);
  ui.question.focus();
}

function newChat(push = true) {
  clearConversation();
  ui.welcome.hidden = false;
  setThread("", push && Boolean(state.threadId));
  ui.question.focus();
}

// ---- wiring ------------------------------------------------------------------------------------
ui.newChat.addEventListener("click", () => { sidebar.closeDrawer(false); newChat(); });
for (const button of document.querySelectorAll(".suggestion")) {
  button.addEventListener("click", () => composer.submit(button.textContent));
}
ui.keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = ui.key.value.trim();
  setFunctionKey(key);
  ui.keyPanel.open = false;
  notify(key ? "Function key saved for this tab." : "Function key cleared.");
  ui.question.focus();
  const view = state.afterKey;
  state.afterKey = null;
  if (key && view && view === lastView() && view.state === "error") retry(view);
  else if (key && state.threadId && !state.views.length) loadThread(state.threadId);
  if (key) store.load(state.caps);
});
ui.messages.addEventListener("click", async (e) => {
  const preview = e.target.closest("a[data-preview]");
  if (preview) {
    e.preventDefault();
    const view = state.views.find((v) => v.node.contains(preview));
    state.opener = preview;
    showPreview(ui.dialog, view && view.sources, preview.dataset.preview);
    return;
  }
  const copy = e.target.closest("[data-action=copy-code]");
  if (copy) flash(copy, (await copyText(copy.closest(".code-block").querySelector("pre").textContent)) ? "Copied" : "Copy failed");
});
ui.dialog.addEventListener("close", () => { state.opener?.focus(); state.opener = null; });
ui.dialog.querySelector(".preview-close").addEventListener("click", () => ui.dialog.close());
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented || ui.dialog.open) return;
  if (sidebar.drawerOpen) sidebar.closeDrawer();
  else if (ui.keyPanel.open) { ui.keyPanel.open = false; ui.keyPanel.querySelector("summary").focus(); }
  else if (state.running) stop();
  else return;
  e.preventDefault();
});
window.addEventListener("popstate", () => {
  const id = threadFromUrl();
  if (id === state.threadId) return;
  if (id) openThread(id, false); else newChat(false);
});
new IntersectionObserver((entries) => { state.follow = entries[entries.length - 1].isIntersecting; },
  { rootMargin: "0px 0px 160px 0px" }).observe(ui.end);

async function start() {
  const given = keyFromUrl();
  if (given === "fragment") notify("Function key saved for this tab.");
  if (given === "query") {
    notify("A key in ?code= reaches the server and its logs: it was not used. Open the page " +
      "as /chat#code=\u2026 instead, or enter the key under \u201cFunction key\u201d.");
  }
  if (given || functionKey()) showKeyPanel(false);
  ui.key.value = functionKey();
  const id = threadFromUrl();
  setThread(id, false);
  const caps = capabilities();
  ui.welcome.hidden = Boolean(id);
  ui.question.focus();
  state.caps = await caps;
  composer.setLimit(state.caps.maxInputChars);
  await Promise.all([store.load(state.caps), id ? loadThread(id) : null]);
  setTitle();
}

start();
