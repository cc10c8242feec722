// One exchange of the conversation as the page shows it: the question, and the answer with its
// tool calls, Markdown, sources, status and actions (copy, regenerate, feedback). An answer is
// drawn the same way live and from a stored thread: after it ends, the page reads the stored
// turn back (`applyStored`), so a reload shows exactly what was shown live.

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
  const start = (question) => {
    turn = { question, tools: [], text: "", agent: "", runId: null, feedback: null, answered: false };
    turns.push(turn);
  };
  for (const m of messages || []) {
    const content = typeof m.content === "string" ? m.content : "";
    if (m.role === "user") { start(content); continue; }
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
  /** `hooks`: retry(view), regenerate(view), feedback(view, score, comment), and
   * canRegenerate(view), canFeedback(view). */
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
    this.actions = el("div", { class: "actions", role: "group", "aria-label": "Answer actions", hidden: true });
    this.node = el("article", { class: "msg assistant", id: this.id, "aria-labelledby": `${this.id}-who` },
      el("h2", { class: "who", id: `${this.id}-who` }, "Bot ", this.agent),
      this.tools, this.answer, this.sourcesBox, this.status, this.actions);
    this.reset();
  }

  get state() { return this.node.dataset.state; }

  /** Empty again, streaming (a new answer, a retry, a regeneration). */
  reset() {
    this.text = "";
    this.runId = null;
    this.started = false; // the server has the question (its `metadata` came)
    this.feedback = null;
    this.toolBoxes = new Map();
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

  append(chunk) {
    if (!this.text) this.clearStatus();
    this.text += chunk;
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
    this.toolBox({ id: event.tool_call_id, name: event.name, input: event.input, output: null });
    this.waiting(`Running ${event.name}\u2026`);
  }

  toolEnd(event) {
    const tool = { id: event.tool_call_id, name: event.name, output: event.output || "",
      status: event.status, input: "" };
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
    this.text = this.md.text;
    this.node.dataset.state = "done";
    this.answer.setAttribute("aria-busy", "false");
    this.clearStatus();
    this.drawSources();
    this.drawActions();
    const plain = this.answer.textContent.trim();
    const said = plain.length > ANNOUNCE_CHARS ? `${plain.slice(0, ANNOUNCE_CHARS)}\u2026` : plain;
    announce(`${this.agent.textContent || "The bot"} answered: ${said}`);
  }

  /** The stored turn, drawn over what streamed (the same look after a reload). */
  applyStored(turn) {
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
      this.text = turn.text;
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
    if (this.state === "streaming") return;
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
      if (comment && (await this.hooks.feedback(this, score, comment))) this.feedback.comment = comment;
      close();
    });
    form.querySelector("button.secondary").addEventListener("click", close);
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });
    this.node.querySelector(".feedback-form")?.remove();
    this.node.append(form);
    area.focus();
  }
}
