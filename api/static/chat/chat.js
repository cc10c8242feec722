// The chat page: asks POST /stream and draws the answer as it streams (follow.js), rejoins a
// run whose stream was cut or whose page was reloaded (runs.js), puts a call waiting for
// approval to the user (approval.js), keeps the thread in the URL (each conversation its own
// history entry) and in the thread list, and reads a thread back from
// GET /threads/{id}?include=tools. Model text and tool output never become live HTML (see
// markdown.js).

import { API, CUT_MESSAGE, Problem, call, functionKey, getJson, inputLimit, keyFromUrl,
  problemOf, setFunctionKey, threadPath } from "./api.js";
import { announce, el, titleOf } from "./dom.js";
import { Composer } from "./composer.js";
import { Runner } from "./follow.js";
import { AnswerView, turnsOf, userMessage } from "./message.js";
import { rejoin, savedRun } from "./runs.js";
import { Sidebar } from "./sidebar.js";
import { showPreview } from "./sources.js";
import { ThreadStore } from "./threads.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"), welcome: $("welcome"), notice: $("notice"), form: $("composer"),
  question: $("question"), send: $("send"), stop: $("stop"), counter: $("counter"),
  hint: $("composer-hint"), newChat: $("new-chat"), keyPanel: $("key-panel"),
  keyForm: $("key-form"), key: $("function-key"), dialog: $("source-dialog"), end: $("end-of-chat"),
};
const DECIDED = { approve: "Approved: running the call\u2026", edit: "Running the call as you edited it\u2026",
  reject: "Rejected: the bot answers without the call\u2026" };
const state = { threadId: "", views: [], follow: true, afterKey: null };
const store = new ThreadStore();
const composer = new Composer(ui, {
  ask: (question) => { notify(""); ask(question); },
  stop: () => runner.stop(),
});
const runner = new Runner({
  threadId: () => state.threadId,
  metadata: (view, meta) => {
    if (meta.thread_id && meta.thread_id !== state.threadId) {
      store.touch(meta.thread_id, { createdTitle: titleOf(view.question) });
      setThread(meta.thread_id, false);
    }
  },
  problem: (problem, view) => {
    handleProblem(problem);
    if (problem.needsKey) state.afterKey = view;
  },
  busy: (busy) => { composer.setBusy(busy); refreshActions(); },
  done: (view, outcome) => reconcile(view, outcome !== "end"),
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
    runOn(view, { thread_id: state.threadId, regenerate: true }, "regenerate");
    ui.question.focus();
  },
  feedback: (view, score, comment) => sendFeedback(view, score, comment),
  decide: (view, resume) => decide(view, resume),
  canRegenerate: (view) => !runner.running && Boolean(state.threadId) && view === lastView(),
  canFeedback: () => Boolean(state.threadId),
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
  runner.stop();
  state.views = [];
  ui.messages.replaceChildren();
  notify("");
}

function refreshActions() { for (const view of state.views) view.drawActions(); }

// ---- running a turn ------------------------------------------------------------------------
function ask(question) {
  const previous = lastView();
  ui.welcome.hidden = true;
  previous?.declined(); // a new question declines a call that waited (the server does so)
  ui.messages.append(userMessage(question));
  const view = addAnswer(question);
  previous?.status.querySelector(".retry")?.remove();
  ui.end.scrollIntoView({ block: "end" });
  post(view, { user_input: question, thread_id: state.threadId }, "question");
}

/** Retry without asking twice: a cut run is rejoined; a question the server already has is
 * answered again (regenerate); else it is asked again. */
async function retry(view) {
  if (runner.running || view !== lastView()) return;
  ui.question.focus();
  if (view.runId && view.state === "cut") {
    view.resumeStreaming("Reconnecting\u2026");
    const outcome = await runner.run(view, (signal) => rejoin(state.threadId, view.runId, view.lastId, signal),
      { kind: view.kind, rejoining: true });
    if (outcome !== "gone") return;
  }
  const again = view.started && state.threadId;
  runOn(view, again ? { thread_id: state.threadId, regenerate: true }
    : { user_input: view.question, thread_id: state.threadId }, again ? "regenerate" : "question");
}

function runOn(view, body, kind) {
  if (runner.running) return;
  view.reset();
  post(view, body, kind);
}

/** POST /stream: the run goes on if the connection drops, so the page can rejoin it. */
function post(view, body, kind, options = {}) {
  return runner.run(view, (signal) => call("stream", { method: "POST", accept: "text/event-stream",
    body: { ...body, on_disconnect: "continue" }, signal }), { kind, ...options });
}

/** A decision on the call `view` waits for: resolves to null once the run goes on (the answer
 * then streams in `view`), or to why it didn't (the server's refusal, a network failure). */
function decide(view, resume) {
  if (runner.running) return Promise.resolve(new Problem(0, "Wait until the answer being written is done."));
  return new Promise((resolve) => {
    post(view, { thread_id: state.threadId, resume }, "resume", {
      refused: (problem) => { resolve(problem); return true; },
      started: () => {
        view.resumeStreaming(DECIDED[resume.decision]);
        ui.question.focus();
        resolve(null);
      },
    }).then(() => resolve(null));
  });
}

/** After an answer: the stored turn drawn over the live one (titles of the sources, the
 * answering specialist, the run), the thread first in the list. `finishing`: the stream ended
 * without its `end` (the run was over when the page rejoined it): the stored answer, if any,
 * is the answer. An answer joined without its question: the thread as stored. */
async function reconcile(view, finishing = false) {
  const id = state.threadId;
  let applied = false;
  let thread = null;
  try {
    thread = await getJson(`${threadPath(id)}?include=tools`);
    if (view.question === null) {
      if (id === state.threadId && view === lastView()) redraw(thread);
      return;
    }
    const turns = turnsOf(thread.messages);
    const last = turns[turns.length - 1];
    if (id === state.threadId && view === lastView() && !runner.running && last && last.answered
        && last.question === view.question) {
      view.applyStored(last);
      applied = true;
    }
  } catch (_) { /* what streamed stays */ }
  if (finishing && !applied && view.state === "streaming") view.problem({ message: CUT_MESSAGE }, "cut");
  if (thread) store.seen(thread, titleOf(view.question));
  else store.touch(id, { createdTitle: titleOf(view.question) });
  setTitle();
}

async function sendFeedback(view, score, comment) {
  const body = comment ? { score, comment } : { score };
  try {
    const resp = await call(threadPath(state.threadId, "runs", view.runId, "feedback"),
      { method: "POST", body });
    if (resp.ok) { announce("Thanks for the feedback."); return true; }
    notify(`Couldn\u2019t send the feedback: ${(await problemOf(resp)).message}`);
  } catch (problem) {
    notify(`Couldn\u2019t send the feedback: ${problem.message}`);
  }
  return false;
}

// ---- loading a thread, starting a new one --------------------------------------------------
/** The turns of a stored thread without the one a saved run is answering (it is drawn from
 * what the page had, then the run's later events): a new question's turn (once stored, it has
 * the run's id), or the last turn (regenerated, or resumed after a decision). */
function withoutRun(turns, saved) {
  if (saved.kind === "question") return turns.filter((t) => t.questionRunId !== saved.run_id);
  return turns.slice(0, -1);
}

function showTurns(turns, thread) {
  turns.forEach((turn, i) => {
    const last = i === turns.length - 1;
    if (turn.question !== null) ui.messages.append(userMessage(turn.question));
    const view = addAnswer(turn.question);
    view.started = true; // the server has the question: Retry answers it again
    if (turn.answered) view.applyStored(turn);
    else if (last && thread && thread.pending) {
      view.applyStored({ ...turn, tools: turn.tools.filter((t) => t.output !== null) });
      view.pause(thread.pending);
    } else {
      view.applyStored(turn);
      view.problem({ message: "No answer was saved for this question." }, "cut", last);
    }
  });
}

/** A stored thread (null: one whose first turn is still running), and the run this tab was
 * following when it was reloaded, or the one the thread says is running: rejoined. */
function showThread(thread, saved = null) {
  const all = turnsOf(thread ? thread.messages : []);
  showTurns(saved ? withoutRun(all, saved) : all, thread);
  if (thread) {
    const first = all.find((t) => t.question !== null);
    store.seen(thread, titleOf(first ? first.question : ""));
  }
  if (saved) {
    ui.messages.append(userMessage(saved.question));
    const view = addAnswer(saved.question);
    Object.assign(view, { started: true, threadId: saved.thread_id, runId: saved.run_id,
      lastId: saved.last_id });
    view.restore(saved);
    runner.run(view, (signal) => rejoin(saved.thread_id, saved.run_id, saved.last_id, signal),
      { kind: saved.kind, rejoining: true });
  } else if (thread && thread.active_run) {
    // running, begun elsewhere (another tab): joined from its first event
    const view = addAnswer(null);
    Object.assign(view, { started: true, threadId: thread.thread_id, runId: thread.active_run.run_id });
    runner.run(view, (signal) => rejoin(thread.thread_id, view.runId, 0, signal),
      { kind: "joined", rejoining: true });
  }
  setTitle();
  refreshActions();
  ui.end.scrollIntoView({ block: "end" });
}

function redraw(thread) {
  clearConversation();
  showThread(thread);
}

/** Draws a stored thread, and rejoins the run this tab left on it (a reload, Stop, another
 * conversation), or the one the server says is running. */
async function loadThread(id) {
  ui.welcome.hidden = true;
  const saved = savedRun(id);
  let thread = null;
  try {
    thread = await getJson(`${threadPath(id)}?include=tools`);
  } catch (problem) {
    if (id !== state.threadId) return;
    if (saved && problem.status === 404) { /* its first turn is still running */ }
    else if (problem.status === 404) {
      store.forget(id);
      newChat(false);
      notify("That conversation was not found (deleted or expired); this is a new one.");
      return;
    } else {
      if (problem.signIn || problem.needsKey) handleProblem(problem);
      else notify(`Couldn\u2019t load the conversation: ${problem.message}`);
      return;
    }
  }
  if (id === state.threadId) showThread(thread, saved);
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
  if (key) store.load();
});
ui.messages.addEventListener("click", async (e) => {
  const preview = e.target.closest("a[data-preview]");
  if (preview) {
    e.preventDefault();
    const view = state.views.find((v) => v.node.contains(preview));
    state.opener = preview;
    showPreview(ui.dialog, view && view.sources, preview.dataset.preview);
  }
});
ui.dialog.addEventListener("close", () => { state.opener?.focus(); state.opener = null; });
ui.dialog.querySelector(".preview-close").addEventListener("click", () => ui.dialog.close());
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented || ui.dialog.open) return;
  if (sidebar.drawerOpen) sidebar.closeDrawer();
  else if (ui.keyPanel.open) { ui.keyPanel.open = false; ui.keyPanel.querySelector("summary").focus(); }
  else if (runner.running) runner.stop();
  else return;
  e.preventDefault();
});
window.addEventListener("pagehide", () => runner.leaving());
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
  ui.welcome.hidden = Boolean(id);
  ui.question.focus();
  await Promise.all([inputLimit().then((limit) => composer.setLimit(limit)), store.load(),
    id ? loadThread(id) : null]);
  setTitle();
}

start();
