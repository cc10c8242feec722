// The tool call a paused run waits for (`APPROVE_TOOLS` on the server): the `interrupt` event
// of /stream, or `pending` of GET /threads/{id} after a reload. Shown as it will run, from the
// tool's name and arguments and nothing else:
// - `sql_query`: the statement (as the SQL guard will run it) as a code block;
// - an apisearch operation: an HTTP GET (apisearch makes only GET requests), the operation,
//   and its parameters; the URL is the server's to build from its API description, so the page
//   doesn't guess it (the call's result names it);
// - any other tool: its arguments as JSON.
// Approve runs it as shown; Edit changes the arguments (the query, or the JSON of all of them);
// Reject runs nothing, with an optional message to the model. A decision the server refuses
// (422: the tool refused the edit; 409, 404) is said here in its words, and the call still
// waits.

import { el } from "./dom.js";

let count = 0;

function describe(interrupt) {
  const args = interrupt.args || {};
  if (interrupt.tool === "sql_query" && typeof args.query === "string") {
    return { what: "run a SQL query", edit: "query", body: [el("pre", { class: "call-sql", tabindex: "0" },
      el("code", { text: args.query }))] };
  }
  if (interrupt.agent === "apisearch") {
    const rows = Object.entries(args).map(([name, value]) => el("tr", {},
      el("th", { scope: "row", text: name }),
      el("td", {}, el("code", { text: typeof value === "string" ? value : JSON.stringify(value) }))));
    return { what: "make an API call", edit: null, body: [
      el("dl", { class: "call-request" },
        el("dt", { text: "Method" }), el("dd", {}, el("code", { text: "GET" })),
        el("dt", { text: "Operation" }), el("dd", {}, el("code", { text: interrupt.tool }))),
      rows.length ? el("table", { class: "call-params" },
        el("caption", { text: "Parameters" }),
        el("tbody", {}, ...rows)) : el("p", { class: "muted", text: "No parameters." }),
      el("p", { class: "call-note", text: "Sent to the API the server is set up with; the " +
        "call\u2019s result names the URL it asked." })] };
  }
  return { what: `call ${interrupt.tool}`, edit: null, body: [
    el("pre", { class: "call-args", tabindex: "0" }, el("code", { text: JSON.stringify(args, null, 2) }))] };
}

export class ApprovalPanel {
  /** `decide(resume)` sends the decision: resolves to null once the run goes on, or to the
   * server's refusal (a Problem) while the call still waits. */
  constructor(interrupt, decide) {
    this.id = `approval${++count}`;
    this.interrupt = interrupt;
    this.decide = decide;
    const { what, edit, body } = describe(interrupt);
    this.editKey = edit;
    this.alert = el("p", { class: "approval-problem", role: "alert" });
    this.buttons = el("div", { class: "row" },
      this.button("Approve", "", () => this.send({ decision: "approve" })),
      this.button("Edit", "secondary", () => this.openEditor()),
      this.button("Reject", "secondary", () => this.openReject()));
    this.form = el("div", { class: "approval-form" });
    this.node = el("section", { class: "approval", "aria-labelledby": `${this.id}-title`,
      "data-interrupt-id": interrupt.interrupt_id },
    el("h3", { class: "approval-title", id: `${this.id}-title`,
      text: `${interrupt.agent} wants to ${what}` }),
    el("p", { class: "approval-lead", text: "Nothing runs until you decide." }),
    ...body, this.alert, this.buttons, this.form);
    this.summary = `${interrupt.agent} is waiting for your approval to ${what}.`;
  }

  button(text, kind, onClick) {
    const button = el("button", { type: "button", class: kind || null, text });
    button.addEventListener("click", onClick);
    return button;
  }

  focus() { this.buttons.querySelector("button").focus(); }

  say(text) { this.alert.textContent = text; }

  async send(resume, busy = this.node) {
    this.say("");
    for (const b of busy.querySelectorAll("button, textarea")) b.disabled = true;
    const refused = await this.decide({ interrupt_id: this.interrupt.interrupt_id, ...resume });
    for (const b of busy.querySelectorAll("button, textarea")) b.disabled = false;
    if (refused) this.say(refused.message);
    return !refused;
  }

  /** A form under the call (one at a time): a labelled text box, a submit and a Cancel. */
  showForm(label, value, submitText, onSubmit, { code = false, required = true } = {}) {
    const area = el("textarea", { id: `${this.id}-input`, rows: code ? "6" : "2",
      class: code ? "code-input" : null, spellcheck: code ? "false" : null });
    area.value = value;
    const form = el("form", { class: "approval-edit" },
      el("label", { for: area.id, text: label }), area,
      el("div", { class: "row" }, el("button", { type: "submit", text: submitText }),
        el("button", { type: "button", class: "secondary", text: "Cancel" })));
    const close = () => { this.form.replaceChildren(); this.buttons.hidden = false; this.focus(); };
    form.querySelector("button.secondary").addEventListener("click", close);
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (required && !area.value.trim()) { this.say(`${label}: write something first.`); return; }
      onSubmit(area.value);
    });
    this.say("");
    this.buttons.hidden = true;
    this.form.replaceChildren(form);
    area.focus();
  }

  openEditor() {
    const args = this.interrupt.args || {};
    if (this.editKey) {
      this.showForm("The SQL query to run", args[this.editKey], "Run this query", (text) => {
        this.send({ decision: "edit", args: { ...args, [this.editKey]: text } }, this.form);
      }, { code: true });
      return;
    }
    this.showForm("The call\u2019s arguments (JSON)", JSON.stringify(args, null, 2), "Run with these",
      (text) => {
        let edited;
        try { edited = JSON.parse(text); } catch (err) { edited = err; }
        if (!edited || typeof edited !== "object" || Array.isArray(edited) || edited instanceof Error) {
          this.say("The arguments must be a JSON object, such as {\"symbol\": \"ETH\"}.");
          return;
        }
        this.send({ decision: "edit", args: edited }, this.form);
      }, { code: true });
  }

  openReject() {
    this.showForm("A message for the bot (optional)", "", "Reject the call", (text) => {
      const message = text.trim();
      this.send(message ? { decision: "reject", message } : { decision: "reject" }, this.form);
    }, { required: false });
  }
}
