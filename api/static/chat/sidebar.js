// The thread list: a sidebar beside the conversation, a drawer on narrow screens. Threads are
// grouped by when they were last used, newest first; each is a link (so it opens in a new tab
// too) with Rename and Delete. Escape closes the drawer, an editor or a question.

import { el } from "./dom.js";
import { icon } from "./icons.js";

const DAY = 24 * 3600 * 1000;
const NARROW = window.matchMedia("(max-width: 800px)");

function groupOf(iso, now) {
  const when = Date.parse(iso || "");
  if (Number.isNaN(when)) return "Older";
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  if (when >= today.getTime()) return "Today";
  if (when >= today.getTime() - DAY) return "Yesterday";
  if (when >= today.getTime() - 7 * DAY) return "Previous 7 days";
  if (when >= today.getTime() - 30 * DAY) return "Previous 30 days";
  return "Older";
}

export class Sidebar {
  /** `ui`: sidebar, list, empty, more, where, scrim, open, close, main; `on`: open(id),
   * deleted(id), problem(text). */
  constructor(ui, store, on) {
    Object.assign(this, { ui, store, on });
    this.current = "";
    store.onChange = () => this.render();
    ui.open.addEventListener("click", () => this.openDrawer());
    ui.close.addEventListener("click", () => this.closeDrawer());
    ui.scrim.addEventListener("click", () => this.closeDrawer());
    ui.more.addEventListener("click", () => store.more().catch((p) => on.problem(p.message)));
    NARROW.addEventListener("change", () => this.closeDrawer(false));
    ui.list.addEventListener("click", (e) => this.clicked(e));
  }

  setCurrent(id) {
    this.current = id || "";
    for (const link of this.ui.list.querySelectorAll(".thread-link")) {
      if (link.closest(".thread").dataset.threadId === this.current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  render() {
    const { ui, store } = this;
    if (this.editing) return; // drawn again when the rename or delete question is done
    const focused = document.activeElement;
    const keep = ui.list.contains(focused)
      ? [focused.closest(".thread")?.dataset.threadId, focused.dataset.action || "link"] : null;
    const groups = new Map();
    const now = Date.now();
    for (const item of store.items) {
      const name = groupOf(item.updated_at || item.created_at, now);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(this.item(item));
    }
    ui.list.replaceChildren(...[...groups].map(([name, items], i) => el("li", { class: "thread-group" },
      el("h3", { class: "thread-group-title", id: `thread-group-${i}`, text: name }),
      el("ul", { "aria-labelledby": `thread-group-${i}` }, ...items))));
    ui.empty.hidden = store.items.length > 0;
    ui.more.hidden = !store.cursor;
    ui.where.textContent = store.listed ? "" : "Kept in this browser.";
    ui.where.hidden = store.listed;
    if (keep) {
      const row = ui.list.querySelector(`.thread[data-thread-id="${CSS.escape(keep[0] || "")}"]`);
      const target = row && (keep[1] === "link" ? row.querySelector(".thread-link")
        : row.querySelector(`[data-action="${keep[1]}"]`));
      (target || ui.list.querySelector(".thread-link") || ui.open).focus();
    }
  }

  item(thread) {
    const title = thread.title || "Untitled conversation";
    const link = el("a", { class: "thread-link", href: `?thread_id=${encodeURIComponent(thread.thread_id)}`,
      "aria-current": thread.thread_id === this.current ? "page" : null, title }, title);
    const button = (action, label) => el("button", { type: "button", class: "icon-button",
      "data-action": action, "aria-label": `${label}: ${title}`, title: label }, icon(action));
    return el("li", { class: "thread", "data-thread-id": thread.thread_id }, link,
      el("span", { class: "thread-tools" }, button("rename", "Rename"), button("delete", "Delete")));
  }

  clicked(event) {
    const row = event.target.closest(".thread");
    if (!row) return;
    const id = row.dataset.threadId;
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action === "rename") this.rename(row, id);
    else if (action === "delete") this.confirmDelete(row, id);
    else if (event.target.closest(".thread-link")) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      this.closeDrawer(false);
      this.on.open(id);
    }
  }

  rename(row, id) {
    const thread = this.store.get(id);
    const input = el("input", { id: "rename-input", value: thread.title || "", maxlength: "200",
      autocomplete: "off" });
    const form = el("form", { class: "thread-rename" },
      el("label", { for: "rename-input", class: "visually-hidden", text: "Conversation title" }), input);
    let done = false;
    this.editing = true;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      try {
        if (save && title) await this.store.rename(id, title);
      } catch (problem) {
        this.on.problem(`Couldn\u2019t rename the conversation: ${problem.message}`);
      }
      this.editing = false;
      this.render();
      this.ui.list.querySelector(`.thread[data-thread-id="${CSS.escape(id)}"] [data-action="rename"]`)?.focus();
      if (save && title && id === this.current) this.on.renamed(id);
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); finish(true); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
    });
    input.addEventListener("blur", () => finish(true));
    row.replaceChildren(form);
    input.focus();
    input.select();
  }

  confirmDelete(row, id) {
    const title = this.store.get(id)?.title || "this conversation";
    const cancel = el("button", { type: "button", class: "secondary small", text: "Cancel" });
    const yes = el("button", { type: "button", class: "danger small", text: "Delete" });
    const question = el("span", { class: "confirm-text", id: "delete-question", text: `Delete \u201c${title}\u201d?` });
    const box = el("div", { class: "thread-confirm", role: "group", "aria-labelledby": "delete-question" },
      question, yes, cancel);
    this.editing = true;
    const back = () => {
      this.editing = false;
      this.render();
      this.ui.list.querySelector(`.thread[data-thread-id="${CSS.escape(id)}"] [data-action="delete"]`)?.focus();
    };
    cancel.addEventListener("click", back);
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); back(); }
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      const index = [...this.ui.list.querySelectorAll(".thread")].indexOf(row);
      try {
        await this.store.remove(id);
        this.editing = false;
        this.render();
        const links = this.ui.list.querySelectorAll(".thread-link");
        (links[index] || links[index - 1])?.focus();
        this.on.deleted(id);
      } catch (problem) {
        this.on.problem(`Couldn\u2019t delete the conversation: ${problem.message}`);
        back();
      }
    });
    row.replaceChildren(box);
    cancel.focus();
  }

  // ---- the drawer (narrow screens) ---------------------------------------------------------
  get drawerOpen() { return this.ui.sidebar.classList.contains("open"); }

  openDrawer() {
    const { ui } = this;
    ui.sidebar.classList.add("open");
    ui.scrim.hidden = false;
    ui.main.inert = true;
    ui.open.setAttribute("aria-expanded", "true");
    (ui.list.querySelector("[aria-current=page]") || ui.list.querySelector(".thread-link") || ui.close).focus();
  }

  closeDrawer(refocus = true) {
    const { ui } = this;
    if (!this.drawerOpen) return;
    ui.sidebar.classList.remove("open");
    ui.scrim.hidden = true;
    ui.main.inert = false;
    ui.open.setAttribute("aria-expanded", "false");
    if (refocus) ui.open.focus();
  }
}
