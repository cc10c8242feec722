// Following one run of the bot into an answer on the page: the Server-Sent Events of POST
// /stream (or of a rejoin, runs.js) drawn as they come (metadata, tokens, tool calls, a call
// waiting for approval, the end or an error); a stream cut short rejoined after the last event
// drawn, waiting longer each time (BACKOFF_MS), then said plainly with Retry; Stop; and what a
// reload needs kept as the answer is drawn. One run at a time.

import { CUT_MESSAGE, Problem, call, problemOf, threadPath } from "./api.js";
import { announce } from "./dom.js";
import { BACKOFF_MS, RunKeeper, forgetRun, pause, rejoin } from "./runs.js";
import { readEvents } from "./sse.js";

// The page asks for `"on_disconnect": "continue"` (a reload or a cut rejoins the run), so Stop
// also asks the server to stop the run (POST .../runs/{run_id}/cancel): no more tokens are
// spent, and the thread keeps what it had before this answer.
export const STOPPED = "Stopped.";

export class Runner {
  /** `on`: threadId() (the thread the page shows), metadata(view, meta) (a run began; its
   * thread may be new), problem(problem) (sign-in or a key may help), busy(flag), and
   * done(view, outcome) (end, over: it ended while the page was away, gone: no such run now). */
  constructor(on) {
    this.on = on;
    this.running = null; // { controller, view }
    this.keeper = new RunKeeper();
  }

  stop() {
    if (!this.running) return;
    const { view } = this.running;
    this.running.controller.abort();
    if (view.threadId && view.runId) {
      call(threadPath(view.threadId, "runs", view.runId, "cancel"), { method: "POST" })
        .catch(() => {}); // a run that can't be reached stops on its own when its lease lapses
    }
  }

  /** Follows one run into `view` to its end: `open(signal)` starts it (POST /stream) or
   * rejoins it. Options: `kind` (question, regenerate, resume, joined: what a reload replaces),
   * `rejoining` (a 404 means the run is gone), `refused(problem)` (a start the server refused,
   * shown by the caller when it returns true), `started()` (the run goes on). Resolves to the
   * outcome: end, error, paused, over, gone, cut, stopped, failed, refused (or busy). */
  async run(view, open, { kind = "question", rejoining = false, refused = null,
    started = null } = {}) {
    if (this.running) return "busy";
    const controller = new AbortController();
    const signal = controller.signal;
    this.running = { controller, view };
    view.kind = kind;
    view.threadId = view.threadId || this.on.threadId();
    this.on.busy(true);
    view.waiting("Thinking\u2026");
    let outcome = "failed";
    let began = false;
    try {
      const resp = await open(signal);
      if (rejoining && resp.status === 404) outcome = "gone";
      else if (!resp.ok) {
        const problem = await problemOf(resp);
        this.on.problem(problem, view);
        if (refused && refused(problem)) return (outcome = "refused");
        view.problem(problem);
      } else {
        began = true;
        if (started) started();
        outcome = resp.status === 204 ? "over" : await this.follow(view, resp, signal);
        outcome = await this.keepUp(view, outcome, signal);
      }
    } catch (err) {
      outcome = "cut";
      if (!began && refused && err instanceof Problem && !signal.aborted && refused(err)) {
        outcome = "refused";
      } else if (signal.aborted) {
        outcome = "stopped";
        if (["streaming", "cut"].includes(view.state)) view.problem({ message: STOPPED }, "stopped");
      } else if (err instanceof Problem) view.problem(err, "cut");
      else view.problem({ message: CUT_MESSAGE }, "cut");
    } finally {
      if (this.running && this.running.controller === controller) this.running = null;
      if (["end", "error", "paused", "over", "gone", "stopped"].includes(outcome)) {
        forgetRun(view.threadId, view.runId);
      }
      this.on.busy(false);
    }
    if (["end", "over", "gone"].includes(outcome)) this.on.done(view, outcome);
    return outcome;
  }

  /** Reads a stream's events into `view`: end, error, paused, or cut (it stopped short). */
  async follow(view, resp, signal) {
    let outcome = "cut";
    view.reconnected();
    try {
      await readEvents(resp, (event) => { outcome = this.onEvent(view, event) || outcome; });
    } catch (err) {
      if (signal.aborted) throw err;
    }
    return outcome;
  }

  /** A stream cut short: rejoin the run after the last event drawn, waiting longer each time. */
  async keepUp(view, outcome, signal) {
    let attempt = 0;
    while (outcome === "cut" && view.runId && attempt < BACKOFF_MS.length) {
      const wait = BACKOFF_MS[attempt++];
      view.reconnecting(Math.ceil(wait / 1000));
      if (attempt === 1) announce("Connection lost. Reconnecting\u2026");
      await pause(wait, signal);
      view.reconnecting(0);
      let resp;
      try {
        resp = await rejoin(view.threadId, view.runId, view.lastId, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        continue; // the server wasn't reached: try again
      }
      if (resp.status === 204) return "over";
      if (resp.status === 404) return "gone";
      if (!resp.ok) {
        if (resp.status >= 500 || resp.status === 408 || resp.status === 429) continue;
        const problem = await problemOf(resp);
        this.on.problem(problem, view);
        view.problem(problem);
        return "failed";
      }
      const before = view.lastId;
      outcome = await this.follow(view, resp, signal);
      if (view.lastId > before) attempt = 0; // it went on: a later cut starts over
    }
    if (outcome === "cut") view.problem({ message: CUT_MESSAGE }, "cut");
    return outcome;
  }

  /** Keeps what a reload needs to rejoin the run `view` follows (see runs.js): what was
   * drawn up to the last event's id, at most every few hundred ms, or `now`. */
  keep(view, now = false) {
    if (!this.running || this.running.view !== view || view.state !== "streaming" || !view.runId
        || view.question === null) return;
    this.keeper.save({ thread_id: view.threadId, run_id: view.runId, last_id: view.lastId,
      kind: view.kind, question: view.question, ...view.drawn() }, now);
  }

  /** The page goes away (a reload): keep the state as it is now. */
  leaving() { if (this.running) this.keep(this.running.view, true); }

  onEvent(view, event) {
    if (event.type !== "comment" && /^\d+$/.test(event.id)) view.lastId = Number(event.id);
    switch (event.type) {
      case "metadata": {
        const meta = JSON.parse(event.data);
        view.runId = meta.run_id || null;
        view.threadId = meta.thread_id || view.threadId;
        view.started = true;
        this.on.metadata(view, meta);
        this.keep(view, true);
        return null;
      }
      case "data": view.append(event.data); break;
      case "on_tool_start": view.toolStart(JSON.parse(event.data)); break;
      case "on_tool_end": view.toolEnd(JSON.parse(event.data)); break;
      case "interrupt": view.pause(JSON.parse(event.data)); return "paused";
      case "end":
        if (view.state === "paused") return "paused"; // what was said before the pause is drawn
        view.finish(event.data);
        return "end";
      case "error": {
        let info = {};
        try { info = JSON.parse(event.data); } catch (_) { info = { message: event.data }; }
        view.problem(new Problem(info.status_code || 0, info.message || "The run failed.",
          { retryAfter: Number(info.retry_after) || 0 }));
        return "error";
      }
      case "comment": view.keepAlive(); return null;
      default: return null; // unknown events are ignored, as SSE clients do
    }
    this.keep(view);
    return null;
  }
}
