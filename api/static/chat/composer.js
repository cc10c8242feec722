// The question box: Enter sends (Shift+Enter adds a line), and while an answer streams Send
// becomes Stop and Enter waits (the draft stays); a counter appears near the server's
// MAX_INPUT_CHARS and a longer question isn't sent.

import { announce } from "./dom.js";

export class Composer {
  /** `ui`: form, question, send, stop, counter, hint; `on`: ask(question), stop(). */
  constructor(ui, on) {
    Object.assign(this, { ui, on });
    this.busy = false;
    this.maxChars = 0;
    this.hint = ui.hint.textContent;
    ui.form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    ui.question.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
    });
    ui.question.addEventListener("input", () => { this.autosize(); this.count(); });
    ui.stop.addEventListener("click", () => on.stop());
  }


  /** Send or Stop; focus stays in the box when the button that had it goes away. */
  setBusy(busy) {
    const { ui } = this;
    const focused = document.activeElement;
    this.busy = busy;
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
    ui.hint.textContent = busy ? "Stop or Escape ends the answer; Enter waits for it." : this.hint;
    if (focused === ui.send || focused === ui.stop) ui.question.focus();
  }

  setLimit(maxChars) {
    this.maxChars = maxChars;
    this.count();
  }

  length() { return [...this.ui.question.value.trim()].length; }

  count() {
    const { ui, maxChars: max } = this;
    const n = this.length();
    const over = max > 0 && n > max;
    const extra = n - max;
    ui.counter.hidden = !max || n < max * 0.8;
    ui.counter.textContent = over
      ? `${extra} character${extra === 1 ? "" : "s"} over the limit of ${max}` : `${n} / ${max}`;
    ui.counter.classList.toggle("over", over);
    if (over) ui.question.setAttribute("aria-invalid", "true");
    else ui.question.removeAttribute("aria-invalid");
  }

  autosize() {
    const { question } = this.ui;
    question.style.height = "auto";
    question.style.height = `${Math.min(question.scrollHeight, 200)}px`;
  }

  /** Asks what the box holds (never while an answer streams: Enter doesn't stop it). */
  submit(text) {
    const { question } = this.ui;
    if (typeof text === "string") question.value = text;
    question.focus();
    if (this.busy) return;
    const asked = question.value.trim();
    if (!asked) return;
    if (this.maxChars && this.length() > this.maxChars) {
      announce(`The question is ${this.length() - this.maxChars} characters over the limit of ${this.maxChars}.`);
      return;
    }
    question.value = "";
    this.autosize();
    this.count();
    this.on.ask(asked);
  }
}
