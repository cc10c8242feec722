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

/** A short title from a question: its first line without an @specialist mention, at most
 * `max` characters, cut at a word. */
export function titleOf(text, max = 60) {
  let line = String(text || "").trim().split("\n")[0].replace(/\s+/g, " ");
  line = line.replace(/^@\w+[,:]?\s+(?=\S)/, "");
  line = line.charAt(0).toUpperCase() + line.slice(1);
  if (line.length <= max) return line;
  const cut = line.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trim()}…`;
}
