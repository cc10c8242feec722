// The user's threads, newest first: from the server (`GET /threads`, with sign-in: the caller's
// own) or, when the server lists none (`"listed": false`: no sign-in, so a thread is anyone's
// who knows its id), kept by this browser in local storage. Renaming (`PATCH /threads/{id}`)
// and deleting (`DELETE /threads/{id}`) go to the server either way; the local list follows.

import { call, getJson, problemOf, threadPath } from "./api.js";

const STORAGE = "smartbot.threads";
const LOCAL_MAX = 200;
const PAGE = 30;

function readLocal() {
  try {
    const items = JSON.parse(window.localStorage.getItem(STORAGE) || "[]");
    return Array.isArray(items) ? items.filter((t) => t && typeof t.thread_id === "string") : [];
  } catch (_) {
    return [];
  }
}

const byUpdated = (a, b) => String(b.updated_at || "").localeCompare(String(a.updated_at || ""));

export class ThreadStore {
  constructor() {
    this.items = [];
    this.listed = false; // the server lists the caller's threads
    this.cursor = null; // the next page of the server's list
    this.onChange = () => {};
  }

  /** The first page: from the server when it lists the caller's threads, else this browser's
   * list (also while the server can't be asked: no key or no sign-in yet). */
  async load() {
    this.items = readLocal().sort(byUpdated);
    try {
      const page = await getJson(`threads?limit=${PAGE}`);
      if (page && page.listed) {
        this.listed = true;
        this.items = page.threads || [];
        this.cursor = page.next_cursor || null;
      }
    } catch (_) { /* a 401 (key, sign-in) is said where it matters: by the conversation */ }
    this.onChange();
  }

  async more() {
    if (!this.cursor) return;
    const page = await getJson(`threads?limit=${PAGE}&cursor=${encodeURIComponent(this.cursor)}`);
    const known = new Set(this.items.map((t) => t.thread_id));
    this.items.push(...(page.threads || []).filter((t) => !known.has(t.thread_id)));
    this.cursor = page.next_cursor || null;
    this.onChange();
  }

  get(id) { return this.items.find((t) => t.thread_id === id) || null; }

  save() {
    if (this.listed) return;
    window.localStorage.setItem(STORAGE, JSON.stringify(this.items.slice(0, LOCAL_MAX)));
  }

  /** A thread was used now (created, answered, opened with a title): first in the list. */
  touch(id, { title = "", createdTitle = "" } = {}) {
    const now = new Date().toISOString();
    let item = this.get(id);
    if (!item) {
      item = { thread_id: id, title: title || createdTitle, created_at: now, updated_at: now };
    } else {
      this.items = this.items.filter((t) => t !== item);
      if (title) item.title = title;
      if (!item.title) item.title = createdTitle;
      item.updated_at = now;
    }
    this.items.unshift(item);
    this.save();
    this.onChange();
  }

  /** A thread as the server has it (`GET /threads/{id}`): its title and times; the list stays
   * newest first (opening a thread doesn't move it). */
  seen(thread, createdTitle = "") {
    const now = new Date().toISOString();
    let item = this.get(thread.thread_id);
    if (!item) {
      item = { thread_id: thread.thread_id };
      this.items.push(item);
    }
    item.title = thread.title || item.title || createdTitle;
    item.created_at = thread.created_at || item.created_at || now;
    item.updated_at = thread.updated_at || item.updated_at || now;
    this.items.sort(byUpdated);
    this.save();
    this.onChange();
  }

  /** A thread the server says is gone (deleted, expired, another user's). */
  forget(id) {
    const before = this.items.length;
    this.items = this.items.filter((t) => t.thread_id !== id);
    if (this.items.length !== before) { this.save(); this.onChange(); }
  }

  /** A new title, stored by the server (`PATCH`), then shown. */
  async rename(id, title) {
    const item = this.get(id);
    if (!item || !title || title === item.title) return;
    const resp = await call(threadPath(id), { method: "PATCH", body: { title } });
    if (!resp.ok) throw await problemOf(resp);
    item.title = (await resp.json()).title || title;
    this.save();
    this.onChange();
  }

  /** DELETE on the server (a thread already gone there is gone here too). */
  async remove(id) {
    const resp = await call(threadPath(id), { method: "DELETE" });
    if (!resp.ok && resp.status !== 404) throw await problemOf(resp);
    this.forget(id);
  }
}
