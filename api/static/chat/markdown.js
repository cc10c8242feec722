// Answer text -> DOM: GitHub-flavoured Markdown by `marked`, every piece of HTML it makes
// sanitized by DOMPurify (a fixed allow-list of tags and attributes, http(s) or relative links
// only), then decorated here (code blocks with a language label and a copy button, citations
// and links handed to the answer's sources). HTML written in the text is shown as text.
//
// While an answer streams, `MarkdownView` paints at most once per animation frame, and only
// what changed: the text is cut into top-level blocks; a block is finished once another block
// follows it, is then rendered once and appended, and never parsed again. Only the last,
// unfinished block is re-rendered each frame, so the cost of a frame doesn't grow with the
// answer.

import { Marked } from "./marked.esm.js";
import { copyText, el, flash } from "./dom.js";

const DOMPurify = window.DOMPurify;
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const SANITIZE = {
  ALLOWED_TAGS: ["p", "br", "hr", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre",
    "code", "em", "strong", "del", "a", "table", "thead", "tbody", "tr", "th", "td"],
  ALLOWED_ATTR: ["href", "title", "class", "start", "align", "data-cite", "data-source"],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOWED_URI_REGEXP: /^(?:https?:|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  RETURN_DOM_FRAGMENT: true,
};
export const WEB = /^https?:\/\/[^\s]+$/i;

// `[[n]](source)`: a citation of the tools' source `source` (which may hold spaces and
// balanced parentheses, as file names and URLs do).
const citation = {
  name: "citation",
  level: "inline",
  start(src) { const at = src.indexOf("[["); return at < 0 ? undefined : at; },
  tokenizer(src) {
    const m = /^\[\[(\d{1,4})\]\]\(((?:[^()\n]|\([^()\n]*\))+)\)/.exec(src);
    if (m) return { type: "citation", raw: m[0], n: m[1], source: m[2].trim() };
    return undefined;
  },
  renderer(token) {
    return `<a class="cite" data-cite="${token.n}" data-source="${escapeHtml(token.source)}">` +
      `[${token.n}]</a>`;
  },
};

const md = new Marked({ gfm: true, breaks: false }, {
  extensions: [citation],
  renderer: {
    // HTML in an answer is text: shown, never run or styled
    html({ text, block }) { return block ? `<p>${escapeHtml(text)}</p>` : escapeHtml(text); },
    // the page's outline: h1 is the page, h2 each message; an answer's headings go below
    heading({ tokens, depth }) {
      const level = Math.min(depth + 2, 6);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
    // no images from elsewhere (the page's CSP would block them anyway): a link to them
    image({ href, text }) { return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`; },
    checkbox({ checked }) { return checked ? "\u2611 " : "\u2610 "; },
  },
});

/** How links and citations become elements (an answer's: see sources.js). Here, for text
 * with no sources: a citation is its number, a relative link its text. */
const unwrap = (a) => a.replaceWith(...a.childNodes);
export const NO_LINKS = { cite: unwrap, relative: unwrap };

/** Sanitized, decorated DOM for some of the lexer's tokens. */
function renderTokens(tokens, links, ctx) {
  if (!tokens.length) return document.createDocumentFragment();
  const list = Object.assign(tokens.slice(), { links });
  return decorate(DOMPurify.sanitize(md.parser(list), SANITIZE), ctx);
}

/** Markdown text -> a sanitized, decorated fragment (for whole texts: stored answers, passages). */
export function renderMarkdown(text, ctx = NO_LINKS) {
  const tokens = md.lexer(text);
  return renderTokens(tokens, tokens.links, ctx);
}

function decorate(fragment, ctx) {
  for (const pre of fragment.querySelectorAll("pre")) codeBlock(pre);
  for (const table of fragment.querySelectorAll("table")) {
    const wrap = el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table" });
    table.replaceWith(wrap);
    wrap.append(table);
  }
  for (const a of fragment.querySelectorAll("a")) {
    const href = a.getAttribute("href");
    if (a.classList.contains("cite")) ctx.cite(a, a.dataset.cite, a.dataset.source || "");
    else if (href && WEB.test(href)) {
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    } else if (href) ctx.relative(a, href);
    else a.replaceWith(...a.childNodes); // a scheme the sanitizer refused: the text stays
  }
  return fragment;
}

function codeBlock(pre) {
  const code = pre.querySelector("code");
  const lang = /(?:^|\s)language-([\w+#.-]{1,30})/.exec(code ? code.className : "");
  if (code) code.removeAttribute("class");
  pre.setAttribute("tabindex", "0"); // a wide block scrolls: reachable by keyboard
  const head = el("div", { class: "code-head" },
    el("span", { class: "code-lang", text: lang ? lang[1] : "text" }),
    el("button", { type: "button", class: "code-copy", text: "Copy" }));
  const copy = head.lastChild;
  copy.addEventListener("click", async () => {
    flash(copy, (await copyText(pre.textContent)) ? "Copied" : "Copy failed");
  });
  const box = el("div", { class: "code-block" });
  pre.replaceWith(box);
  box.append(head, pre);
}

/** An answer's Markdown as it streams in (see the top of this file). */
export class MarkdownView {
  constructor(container, ctx = NO_LINKS) {
    this.ctx = ctx;
    this.blocks = el("div", { class: "blocks" });
    this.live = el("div", { class: "live" });
    container.append(this.blocks, this.live);
    this.text = "";
    this.done = 0; // characters of `text` in finished blocks
    this.links = {};
    this.pending = 0; // the requested animation frame
    this.notBefore = 0; // no paint before this time (see schedule)
    this.liveCode = null; // the <code> of an open fenced block being written
    this.onPaint = () => {};
  }

  /** More text; painted at the next animation frame (chunks between frames cost nothing). */
  append(chunk) {
    this.text += chunk;
    this.schedule();
  }

  /** One paint per animation frame at most; after a costly paint (a long table being
   * written), frames go by unpainted until as much time has passed as the paint took, so
   * painting never takes more than about half of the main thread. */
  schedule() {
    if (this.pending) return;
    this.pending = window.requestAnimationFrame((now) => {
      this.pending = 0;
      if (now < this.notBefore) { this.schedule(); return; }
      const start = performance.now();
      this.paint(false);
      this.notBefore = 2 * performance.now() - start;
    });
  }

  /** The final text (when it differs from what streamed, all of it is rendered again):
   * painted now, all of it finished. */
  finish(text) {
    if (typeof text === "string" && text !== this.text) {
      this.reset();
      this.text = text;
    }
    if (this.pending) window.cancelAnimationFrame(this.pending);
    this.pending = 0;
    this.paint(true);
  }

  reset() {
    this.text = "";
    this.liveCode = null;
    this.blocks.replaceChildren();
    this.live.replaceChildren();
    this.done = 0;
    this.links = {};
  }

  paint(final) {
    const tail = this.text.slice(this.done);
    const tokens = md.lexer(tail);
    Object.assign(this.links, tokens.links);
    let cut = tokens.length;
    if (!final) {
      // the last block may still grow: everything before it is finished
      cut = tokens.findLastIndex((t) => t.type !== "space");
      if (cut < 0) cut = 0;
    }
    let finished = tokens.slice(0, cut);
    let rest = tokens.slice(cut);
    const raw = finished.map((t) => t.raw).join("");
    if (finished.length && !tail.startsWith(raw)) { // can't tell where they end: keep them live
      finished = [];
      rest = tokens;
    }
    if (finished.length) {
      this.blocks.append(renderTokens(finished, this.links, this.ctx));
      this.done += raw.length;
    }
    this.paintLive(rest, final);
    this.onPaint();
  }

  /** The unfinished block; a code block being written only gets its new text. */
  paintLive(rest, final) {
    const code = !final && rest.length === 1 && rest[0].type === "code" ? rest[0] : null;
    if (code && this.liveCode && this.liveCode.lang === code.lang && this.liveCode.node.isConnected) {
      this.liveCode.node.textContent = `${code.text}\n`;
      return;
    }
    this.live.replaceChildren(renderTokens(rest, this.links, this.ctx));
    const node = code ? this.live.querySelector("pre code") : null;
    this.liveCode = node ? { lang: code.lang, node } : null;
  }
}
