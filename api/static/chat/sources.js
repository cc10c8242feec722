// What an answer's tools returned (`{"results": [{"title", "source", "content"}]}`, see
// agent/tools/results.py), used to name its citations by title, to resolve the relative links
// the model copied from a passage against that passage's source, and to preview a local
// document's cited passage. Web sources open in a new tab; everything else stays on the page.

import { el } from "./dom.js";
import { renderMarkdown, WEB } from "./markdown.js";

const LOCAL_BASE = "https://local.invalid/";

/** Results in a tool's output: the whole JSON, or (a streamed preview cut short) the titles
 * and sources that came before the cut. */
export function resultsOf(output) {
  if (!output) return [];
  try {
    const payload = JSON.parse(output);
    if (payload && Array.isArray(payload.results)) {
      return payload.results.filter((r) => r && typeof r.source === "string")
        .map((r) => ({ title: String(r.title || ""), source: r.source, content: String(r.content || "") }));
    }
    return [];
  } catch (_) {
    const found = [];
    const pair = /"title":\s*"((?:[^"\\]|\\.)*)",\s*"source":\s*"((?:[^"\\]|\\.)*)"/g;
    for (const m of output.matchAll(pair)) {
      try {
        found.push({ title: JSON.parse(`"${m[1]}"`), source: JSON.parse(`"${m[2]}"`), content: "" });
      } catch (_) { /* a cut escape */ }
    }
    return found;
  }
}

const withoutFragment = (source) => source.replace(/#.*$/, "");

/** The sources one answer knows, and the links of its text. */
export class Sources {
  constructor(answerId) {
    this.answerId = answerId;
    this.results = new Map(); // source -> {title, source, content}
    this.cited = new Map(); // number -> source, in the order first cited
    this.onCite = () => {};
  }

  clear() { this.results.clear(); this.cited.clear(); }

  clearResults() { this.results.clear(); }

  addOutput(output) {
    for (const r of resultsOf(output)) {
      const known = this.results.get(r.source);
      if (!known || (!known.content && r.content)) this.results.set(r.source, r);
    }
  }

  /** The result for a source: the same source, else the same document. */
  find(source) {
    if (this.results.has(source)) return this.results.get(source);
    const doc = withoutFragment(source);
    for (const r of this.results.values()) if (withoutFragment(r.source) === doc) return r;
    return null;
  }

  title(source) { const r = this.find(source); return r && r.title ? r.title : ""; }

  /** The source a relative link is relative to: the passage it was copied from, else the
   * first source cited, else the first returned. */
  baseFor(href) {
    for (const r of this.results.values()) if (r.content && r.content.includes(`(${href}`)) return r.source;
    const first = this.cited.values().next();
    if (!first.done) return first.value;
    const any = this.results.keys().next();
    return any.done ? "" : any.value;
  }

  // ---- the hooks markdown.js calls for each link it makes ----------------------------------
  cite(a, n, source) {
    if (!this.cited.has(n)) { this.cited.set(n, source); this.onCite(); }
    this.citeLink(a, n, source);
  }

  citeLink(a, n, source) {
    const title = this.title(source);
    a.setAttribute("aria-label", `Source ${n}: ${title || source}`);
    a.title = title ? `${title} \u2014 ${source}` : source;
    if (WEB.test(source)) {
      a.href = source;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    } else {
      a.href = `#${this.answerId}-src-${n}`;
      a.dataset.preview = source;
    }
  }

  relative(a, href) {
    a.dataset.href = href;
    this.resolve(a, href);
  }

  resolve(a, href) {
    const base = this.baseFor(href);
    if (!base) { a.replaceWith(...a.childNodes); return; }
    if (WEB.test(base)) {
      a.href = new URL(href, base).href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      delete a.dataset.preview;
      return;
    }
    const resolved = new URL(href, LOCAL_BASE + withoutFragment(base));
    let path = resolved.pathname.slice(1) + resolved.hash;
    try { path = decodeURI(path); } catch (_) { /* shown as it is */ }
    a.href = `#${this.answerId}-doc`;
    a.removeAttribute("target");
    a.dataset.preview = path;
    a.title = path;
  }

  /** After the results changed: citations already on the page get their titles, relative
   * links their sources. */
  retitle(root) {
    for (const a of root.querySelectorAll("a.cite")) this.citeLink(a, a.dataset.cite, a.dataset.source || "");
    for (const a of root.querySelectorAll("a[data-href]")) this.resolve(a, a.dataset.href);
  }

  /** The numbered list under an answer: each cited source by its title. */
  list() {
    if (!this.cited.size) return null;
    const items = [];
    for (const [n, source] of this.cited) {
      const title = this.title(source);
      const where = WEB.test(source) ? new URL(source).host : source;
      const name = title || source;
      const link = WEB.test(source)
        ? el("a", { href: source, target: "_blank", rel: "noopener noreferrer", text: name })
        : el("a", { href: `#${this.answerId}-src-${n}`, "data-preview": source, text: name });
      items.push(el("li", { id: `${this.answerId}-src-${n}`, value: n }, link,
        title ? el("span", { class: "source-where", text: where }) : null));
    }
    return el("ol", { class: "source-list" }, ...items);
  }
}

/** The preview of a local source: its title, where it is, and the passage the tools returned. */
export function showPreview(dialog, sources, source) {
  const found = sources ? sources.find(source) : null;
  const body = dialog.querySelector(".preview-body");
  dialog.querySelector(".preview-title").textContent = (found && found.title) || source;
  dialog.querySelector(".preview-source").textContent = source;
  if (found && found.content) body.replaceChildren(renderMarkdown(found.content));
  else {
    body.replaceChildren(el("p", { class: "muted",
      text: "The tools returned no passage of this document for this answer." }));
  }
  dialog.showModal();
}
