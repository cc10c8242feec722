// Small DOM helpers shared by the page's modules: building elements (text only ever becomes
// text nodes here), announcing to screen readers, copying to the clipboard.

/** An element with properties (`text`, `class`, `hidden`, else attributes) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name === "hidden") node.hidden = true;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** Says `text` to screen readers (the page's polite live region); the same text twice is
 * still said twice. */
export function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // a separate task, so assistive technology sees a change even for a repeated message
  window.setTimeout(() => { region.textContent = text; }, 50);
}

/** Copies text; true when it worked. The Clipboard API needs a secure context (https, or
 * localhost); elsewhere a selected hidden textarea and execCommand do it. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const area = el("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (_) { done = false; }
    area.remove();
    return done;
  }
}

/** Briefly shows `done` on a button (then its label again) and announces it. */
export function flash(button, done) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = done;
  announce(done);
  window.setTimeout(() => { button.textContent = label; }, 1500);
}

const MENTION = /^@(?:docsearch|sqlsearch|apisearch|websearch|chat)\b[\s,:]*/i;

/** A new thread's title until the server has one (the same rule): the question on one line,
 * without a leading @specialist mention, its first letter upper-case, at most `max`
 * characters (cut at a word, with an ellipsis). */
export function titleOf(text, max = 80) {
  const question = String(text || "").split(/\s+/).filter(Boolean).join(" ");
  let line = question.replace(MENTION, "") || question;
  line = line.charAt(0).toUpperCase() + line.slice(1);
  if (line.length <= max) return line;
  const cut = line.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trim()}\u2026`;
}
