// Answers that survive the connection. The page asks `/stream` to keep a run going when the
// connection drops (`"on_disconnect": "continue"`); every event has an id, and the server keeps
// them, so a cut stream, or a reloaded page, rejoins the run with
// `GET /threads/{thread_id}/runs/{run_id}/stream` and `Last-Event-ID` = the last event drawn,
// and gets the rest exactly once.
//
// What a reload needs is kept in the tab's session storage, by thread, while an answer
// streams: the thread and run ids (from the `metadata` event: a thread's first turn isn't on
// the server until it ends), the question, what was drawn (text, tool calls, the answering
// specialist) and the id of the last event drawn. It is written at most a few times a second,
// and at once when the page goes away or leaves the run (Stop, another conversation: the run
// goes on, and coming back to its thread rejoins it); it is dropped once the run's end is seen.

import { call, threadPath } from "./api.js";

const PREFIX = "smartbot.run:"; // one entry per thread: a save writes only its own
const KEPT = 20; // runs kept at most (the oldest go first)
const SAVE_EVERY_MS = 250;
/** Waits before each try to rejoin a cut stream (then the answer says it was cut, with Retry). */
export const BACKOFF_MS = [500, 1000, 2000, 4000];

function keptKeys() {
  const keys = [];
  for (let i = 0; i < window.sessionStorage.length; i++) {
    const key = window.sessionStorage.key(i);
    if (key && key.startsWith(PREFIX)) keys.push(key);
  }
  return keys;
}

/** The run of `threadId` this tab was following when it left it (a reload, Stop, another
 * conversation), or null. */
export function savedRun(threadId) {
  try {
    const run = JSON.parse(window.sessionStorage.getItem(PREFIX + threadId) || "null");
    const ok = run && run.thread_id === threadId && typeof run.run_id === "string"
      && Number.isInteger(run.last_id) && typeof run.question === "string";
    return ok ? run : null;
  } catch (_) {
    return null;
  }
}

/** The run is over (its end, an error or a pause was seen, or the server no longer has it). */
export function forgetRun(threadId, runId) {
  const run = savedRun(threadId);
  if (run && run.run_id === runId) window.sessionStorage.removeItem(PREFIX + threadId);
}

/** Keeps a following run's state for a reload: `now` writes at once, else at most every
 * SAVE_EVERY_MS (the state must be whole: what was drawn up to `last_id`, no more, no less). */
export class RunKeeper {
  constructor() { this.last = 0; }

  save(state, now = false) {
    const time = performance.now();
    if (!now && time - this.last < SAVE_EVERY_MS) return;
    this.last = time;
    const key = PREFIX + state.thread_id;
    try {
      if (window.sessionStorage.getItem(key) === null) this.makeRoom();
      window.sessionStorage.setItem(key, JSON.stringify({ ...state, saved_at: Date.now() }));
    } catch (_) { /* storage full or off: a reload then can't rejoin */ }
  }

  /** At most KEPT runs: the ones saved longest ago go. */
  makeRoom() {
    const runs = keptKeys().map((key) => {
      try { return [key, Number(JSON.parse(window.sessionStorage.getItem(key)).saved_at) || 0]; }
      catch (_) { return [key, 0]; }
    }).sort((a, b) => a[1] - b[1]);
    for (const [key] of runs.slice(0, Math.max(0, runs.length - KEPT + 1))) {
      window.sessionStorage.removeItem(key);
    }
  }
}

/** GET the run's events after `lastId` (all of them when 0). */
export function rejoin(threadId, runId, lastId, signal) {
  return call(threadPath(threadId, "runs", runId, "stream"), {
    accept: "text/event-stream", signal,
    headers: lastId > 0 ? { "Last-Event-ID": String(lastId) } : {},
  });
}

/** Waits `ms` (less when the browser comes back online); rejects when `signal` aborts. */
export function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      window.clearTimeout(timer);
      window.removeEventListener("online", done);
      signal.removeEventListener("abort", aborted);
      resolve();
    };
    const aborted = () => {
      window.clearTimeout(timer);
      window.removeEventListener("online", done);
      reject(new DOMException("Stopped", "AbortError"));
    };
    const timer = window.setTimeout(done, ms);
    window.addEventListener("online", done);
    if (signal.aborted) aborted();
    else signal.addEventListener("abort", aborted, { once: true });
  });
}
