// One exchange of the conversation as the page shows it: the question, and the answer with its
// tool calls, Markdown, sources, status and actions (copy, regenerate, feedback), or the call
// it waits for a person to approve. An answer is drawn the same way live and from a stored
// thread: after it ends, the page reads the stored turn back (`applyStored`), so a reload shows
// exactly what was shown live.

import { ApprovalPanel } from "./approval.js";
import { announce, copyText, el, flash } from "./dom.js";
import { icon } from "./icons.js";
import { MarkdownView } from "./markdown.js";
import { Sources } from "./sources.js";

let count = 0;
const ANNOUNCE_CHARS = 1500;

export function userMessage(text) {
  return el("article", { class: "msg user" },
    el("h2", { class: "who", text: "You" }), el("div", { class: "bubble", text }));
}

/** Python's `json.dumps` layout, the one the live `on_tool_start` input has. */
export function pyJson(value) {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A thread's messages (GET /threads/{id}?include=tools) as turns: the question, the tool
 * calls with their results, and the answer (the answering specialist's text: what streamed). */
export function turnsOf(messages) {
  const turns = [];
  let turn = null;
  const start = (question, runId = null) => {
    turn = { question, questionRunId: runId, tools: [], text: "", agent: "", runId: null,
      feedback: null, answered: false };
    turns.push(turn);
  };
  for (const m of messages || []) {
    const content = typeof m.content === "string" ? m.content : "";
    if (m.role === "user") { start(content, m.run_id || null); continue; }
    if (!turn) start(null);
    if (m.role === "assistant") {
      for (const call of m.tool_calls || []) {
        turn.tools.push({ id: call.id, name: call.name, agent: m.agent || "",
          input: pyJson(call.args || {}), output: null, status: null });
      }
      if (content) turn.text += content;
      if (!(m.tool_calls || []).length) {
        turn.answered = true;
        turn.agent = m.agent || turn.agent;
        turn.runId = m.run_id || turn.runId;
        turn.feedback = m.feedback || null;
      }
    } else if (m.role === "tool") {
      let tool = turn.tools.find((t) => t.id === m.tool_call_id);
      if (!tool) {
        tool = { id: m.tool_call_id, name: m.tool || "", agent: m.agent || "", input: "" };
        turn.tools.push(tool);
      }
      tool.output = content;
      tool.status = /^Error: /.test(content) ? "error" : "success"; // agent/tool_runner.py
    }
  }
  return turns;
}

function pretty(output) {
  try { return JSON.stringify(JSON.parse(output), null, 2); } catch (_) { return output; }
}

function actionButton(name, label, onClick, props = {}) {
  const button = el("button", { type: "button", class: `action ${name}`, ...props },
    icon(name), el("span", { class: "label", text: label }));
  button.addEventListener("click", () => onClick(button));
  return button;
}

export class AnswerView {
  /** `hooks`: retry(view), regenerate(view), feedback(view, score, comment),
   * decide(view, resume), and canRegenerate(view), canFeedback(view). */
  constructor(question, hooks) {
    this.id = `m${++count}`;
    this.question = question;
    this.hooks = hooks;
    this.sources = new Sources(this.id);
    this.sources.onCite = () => this.scheduleSources();
    this.agent = el("span", { class: "agent" });
    this.tools = el("div", { class: "tools" });
    this.answer = el("div", { class: "answer" });
    this.md = new MarkdownView(this.answer, this.sources);
    this.sourcesBox = el("div", { class: "sources" });
    this.status = el("div", { class: "status" });
    this.approval = null;
    this.actions = el("div", { class: "actions", role: "group", "aria-label": "Answer actions", hidden: true });
    this.node = el("article", { class: "msg assistant", id: this.id, "aria-labelledby": `${this.id}-who` },
      el("h2", { class: "who", id: `${this.id}-who` }, "Bot ", this.agent),
      this.tools, this.answer, this.sourcesBox, this.status, this.actions);
    this.reset();
  }

  get state() { return this.node.dataset.state; }

  /** The answer's text so far (its Markdown view's). */
  get text() { return this.md.text; }

  /** Empty again, streaming (a new answer, a retry, a regeneration). */
  reset() {
    this.runId = null;
    this.lastId = 0; // the id of the run's last event drawn
    this.started = false; // the server has the question (its `metadata` came)
    this.feedback = null;
    this.toolBoxes = new Map();
    this.toolLog = []; // the tool calls drawn, for a reload mid-answer
    this.dropApproval();
    this.agent.textContent = "";
    this.node.querySelector(".feedback-form")?.remove();
    this.md.reset();
    this.sources.clear();
    this.tools.replaceChildren();
    this.sourcesBox.replaceChildren();
    this.clearStatus();
    this.actions.hidden = true;
    this.node.dataset.state = "streaming";
    this.answer.setAttribute("aria-busy", "true");
  }

  clearStatus() {
    window.clearInterval(this.countdown);
    this.status.className = "status";
    this.status.replaceChildren();
  }

  setAgent(agent) { if (agent) this.agent.textContent = agent; }

  waiting(text) {
    if (this.state !== "streaming" || this.text) return;
    this.status.className = "status working";
    this.status.textContent = text;
  }

  keepAlive() { this.waiting("Still working\u2026"); }

  /** The connection dropped: the page is rejoining the run (`seconds` until the next try). */
  reconnecting(seconds) {
    this.status.className = "status working reconnecting";
    this.status.textContent = seconds > 0
      ? `Connection lost. Reconnecting in ${seconds} s\u2026` : "Connection lost. Reconnecting\u2026";
  }

  /** The stream is back: the reconnecting note goes. */
  reconnected() {
    if (this.status.classList.contains("reconnecting")) this.clearStatus();
  }

  /** What was drawn, for a reload mid-answer (see runs.js). */
  drawn() {
    return { text: this.text, agent: this.agent.textContent, tools: this.toolLog };
  }

  /** A reloaded page's answer as it was drawn before (then the run's later events follow). */
  restore(drawn) {
    for (const tool of drawn.tools || []) {
      this.toolLog.push(tool);
      this.toolBox(tool);
      if (tool.output !== null && tool.output !== undefined) this.sources.addOutput(tool.output);
    }
    this.setAgent(drawn.agent);
    if (drawn.text) this.append(drawn.text);
  }

  append(chunk) {
    if (!this.text) this.clearStatus();
    this.md.append(chunk);
  }

  // ---- tool calls ----------------------------------------------------------------------------
  toolBox(tool) {
    const state = el("span", { class: "tool-state" });
    const box = el("details", { class: "tool", "data-tool-call-id": tool.id },
      el("summary", {}, el("span", { class: "tool-name", text: tool.name }), state),
      el("div", { class: "tool-label", text: "Input" }),
      el("pre", { class: "tool-input", tabindex: "0", text: tool.input || "" }));
    this.toolBoxes.set(tool.id, box);
    this.tools.append(box);
    if (tool.output === null || tool.output === undefined) {
      box.classList.add("running");
      state.textContent = "running\u2026";
    } else this.toolDone(box, tool);
    return box;
  }

  toolDone(box, tool) {
    const ok = tool.status !== "error";
    box.classList.remove("running");
    box.classList.add(ok ? "done" : "failed");
    box.querySelector(".tool-state").textContent = ok ? "done" : "failed";
    box.append(el("div", { class: "tool-label", text: "Output" }),
      el("pre", { class: "tool-output", tabindex: "0", text: pretty(tool.output || "") }));
  }

  toolStart(event) {
    this.setAgent(event.agent);
    const tool = { id: event.tool_call_id, name: event.name, agent: event.agent || "",
      input: event.input, output: null, status: null };
    this.toolLog.push(tool);
    this.toolBox(tool);
    this.waiting(`Running ${event.name}\u2026`);
  }

  toolEnd(event) {
    let tool = this.toolLog.find((t) => t.id === event.tool_call_id);
    if (!tool) {
      tool = { id: event.tool_call_id, name: event.name, agent: event.agent || "", input: "" };
      this.toolLog.push(tool);
    }
    Object.assign(tool, { output: event.output || "", status: event.status });
    const box = this.toolBoxes.get(event.tool_call_id);
    if (box) this.toolDone(box, tool); else this.toolBox(tool);
    this.sources.addOutput(event.output || "");
    this.waiting("Writing the answer\u2026");
  }

  // ---- sources ----------------------------------------------------------------------------------
  scheduleSources() {
    if (this.sourcesFrame) return;
    this.sourcesFrame = window.requestAnimationFrame(() => { this.sourcesFrame = 0; this.drawSources(); });
  }

  drawSources() {
    const list = this.sources.list();
    this.sourcesBox.replaceChildren(...(list ? [el("h3", { class: "sources-title", text: "Sources" }), list] : []));
  }

  // ---- the end -------------------------------------------------------------------------------
  finish(text) {
    this.md.finish(text);
    this.node.dataset.state = "done";
    this.answer.setAttribute("aria-busy", "false");
    this.clearStatus();
    this.drawSources();
    this.drawActions();
    const plain = this.answer.textContent.trim();
    const said = plain.length > ANNOUNCE_CHARS ? `${plain.slice(0, ANNOUNCE_CHARS)}\u2026` : plain;
    announce(`${this.agent.textContent || "The bot"} answered: ${said}`);
  }

  // ---- a call waiting for a person's decision -------------------------------------------------
  /** The run paused before `interrupt`'s call: the panel to decide on it. */
  pause(interrupt) {
    this.md.finish();
    this.dropApproval();
    this.clearStatus();
    this.setAgent(interrupt.agent);
    this.node.dataset.state = "paused";
    this.answer.setAttribute("aria-busy", "false");
    this.approval = new ApprovalPanel(interrupt, (resume) => this.hooks.decide(this, resume));
    this.status.before(this.approval.node);
    this.actions.hidden = true;
    announce(this.approval.summary);
    return this.approval;
  }

  dropApproval() {
    this.approval?.node.remove();
    this.approval = null;
  }

  /** A decision was taken: the answer goes on streaming. */
  resumeStreaming(note) {
    this.dropApproval();
    this.node.dataset.state = "streaming";
    this.answer.setAttribute("aria-busy", "true");
    this.waiting(note);
  }

  /** A new question declined the call this answer waited for. */
  declined() {
    if (this.state !== "paused") return;
    this.dropApproval();
    this.node.dataset.state = "done";
    this.status.className = "status";
    this.status.textContent = "Not run: a new question was asked instead.";
  }

  /** The stored turn, drawn over what streamed (the same look after a reload). */
  applyStored(turn) {
    this.clearStatus();
    const open = new Set([...this.toolBoxes].filter(([, b]) => b.open).map(([id]) => id));
    this.tools.replaceChildren();
    this.toolBoxes = new Map();
    this.sources.clearResults();
    for (const tool of turn.tools) {
      this.toolBox(tool).open = open.has(tool.id);
      this.sources.addOutput(tool.output || "");
    }
    this.setAgent(turn.agent);
    this.runId = turn.runId || this.runId;
    this.feedback = turn.feedback;
    if (turn.text !== this.text || this.state !== "done") {
      this.md.finish(turn.text);
    } else this.sources.retitle(this.answer);
    this.drawSources();
    this.node.dataset.state = "done";
    this.answer.setAttribute("aria-busy", "false");
    this.drawActions();
  }

  /** The answer failed (`state`: error, cut, stopped): what happened, and Retry (counting
   * down a `Retry-After`) unless `retry` is false. */
  problem(problem, state = "error", retry = true) {
    this.md.finish();
    this.node.dataset.state = state;
    this.answer.setAttribute("aria-busy", "false");
    this.clearStatus();
    this.status.className = "status problem";
    const code = problem.status && state === "error" ? ` (${problem.status})` : "";
    this.status.append(el("span", { class: "message", role: "alert",
      text: state === "error" ? `Error${code}: ${problem.message}` : problem.message }));
    if (this.text) this.drawActions();
    if (!retry) return;
    const again = el("button", { type: "button", class: "secondary retry", text: "Retry" });
    again.addEventListener("click", () => this.hooks.retry(this));
    this.status.append(again);
    let left = Math.ceil(problem.retryAfter || 0);
    if (left > 0) {
      const tick = () => {
        again.disabled = left > 0;
        again.textContent = left > 0 ? `Retry in ${left} s` : "Retry";
        if (left-- <= 0) window.clearInterval(this.countdown);
      };
      tick();
      this.countdown = window.setInterval(tick, 1000);
    }
  }

  // ---- actions -----------------------------------------------------------------------------
  drawActions() {
    this.node.querySelector(".feedback-note")?.remove();
    if (this.state === "streaming" || this.state === "paused") return;
    const buttons = [];
    if (this.text) {
      buttons.push(actionButton("copy", "Copy", async (b) => {
        flash(b.querySelector(".label"), (await copyText(this.text)) ? "Copied" : "Copy failed");
      }));
    }
    if (this.hooks.canRegenerate(this)) {
      buttons.push(actionButton("regenerate", "Regenerate", () => this.hooks.regenerate(this)));
    }
    if (this.runId && this.hooks.canFeedback(this)) {
      const score = this.feedback ? this.feedback.score : 0;
      for (const [value, name, label] of [[1, "up", "Good answer"], [-1, "down", "Bad answer"]]) {
        const button = actionButton(name, label, () => this.askFeedback(value),
          { "aria-pressed": String(score === value), title: label });
        button.querySelector(".label").classList.add("visually-hidden");
        buttons.push(button);
      }
    }
    this.actions.replaceChildren(...buttons);
    this.actions.hidden = !buttons.length;
    if (this.feedback && this.feedback.comment && this.runId && this.hooks.canFeedback(this)) {
      this.actions.after(el("p", { class: "feedback-note",
        text: `Your comment: \u201c${this.feedback.comment}\u201d` }));
    }
  }

  async askFeedback(score) {
    if (!(await this.hooks.feedback(this, score))) return;
    this.feedback = { score, comment: null };
    this.drawActions();
    const label = `What made this answer ${score > 0 ? "good" : "bad"}? (optional)`;
    const area = el("textarea", { id: `${this.id}-comment`, rows: "2", maxlength: "2000" });
    const form = el("form", { class: "feedback-form" },
      el("label", { for: area.id, text: label }), area,
      el("div", { class: "row" },
        el("button", { type: "submit", text: "Send" }),
        el("button", { type: "button", class: "secondary", text: "Skip" })));
    const close = () => { form.remove(); this.actions.querySelector("[aria-pressed=true]")?.focus(); };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const comment = area.value.trim();
      if (comment && (await this.hooks.feedback(this, score, comment))) {
        this.feedback.comment = comment;
        this.drawActions();
      }
      close();
    });
    form.querySelector("button.secondary").addEventListener("click", close);
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });
    this.node.querySelector(".feedback-form")?.remove();
    this.node.append(form);
    area.focus();
  }
}
