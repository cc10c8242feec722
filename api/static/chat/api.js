// Talking to the API on this origin: the function key, requests and what their failures mean
// in plain words, and the question's length limit (read once from the OpenAPI document).

const KEY_STORAGE = "smartbot.functionKey";
export const API = new URL(".", window.location.href); // the app's root, next to /chat

// ---- the function key ----------------------------------------------------------------------
// Kept in the tab's session storage; given as /chat#code=KEY (a fragment never reaches a
// server or its logs), or typed in the key field. A key in ?code= has already been written to
// some server's log by the time the page sees it: the page takes it out of the address bar and
// says so, but doesn't use it.

export function functionKey() { return window.sessionStorage.getItem(KEY_STORAGE) || ""; }

export function setFunctionKey(key) {
  if (key) window.sessionStorage.setItem(KEY_STORAGE, key);
  else window.sessionStorage.removeItem(KEY_STORAGE);
}

/** Takes a key out of the URL: "fragment" when #code= gave one (now stored), "query" when a
 * ?code= was dropped, else "". */
export function keyFromUrl() {
  const url = new URL(window.location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  let found = "";
  if (fragment.has("code")) {
    setFunctionKey(fragment.get("code").trim());
    fragment.delete("code");
    url.hash = fragment.toString();
    found = "fragment";
  }
  if (url.searchParams.has("code")) {
    url.searchParams.delete("code");
    found = found || "query";
  }
  if (found) window.history.replaceState(window.history.state, "", url);
  return found;
}

// ---- requests --------------------------------------------------------------------------------

/** fetch on the API root with the function key; JSON bodies are sent as JSON. Resolves to the
 * response, or rejects with a `Problem` (network failure, in plain words). */
export async function call(path, { method = "GET", body, accept = "application/json", signal,
  headers = {} } = {}) {
  const all = { Accept: accept, ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  const key = functionKey();
  if (key) all["x-functions-key"] = key;
  try {
    return await fetch(new URL(path, API), {
      method, headers: all, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw networkProblem();
  }
}

/** What went wrong, for people: `status` 0 means the server was never reached. */
export class Problem extends Error {
  constructor(status, message, { retryAfter = 0, signIn = false, needsKey = false,
    errors = [] } = {}) {
    super(message);
    Object.assign(this, { status, retryAfter, signIn, needsKey, errors });
  }
}

export function networkProblem() {
  return new Problem(0, navigator.onLine === false
    ? "You\u2019re offline. Check your connection, then try again."
    : "Couldn\u2019t reach the server. Check your connection, then try again.");
}

export const CUT_MESSAGE = "The connection was lost before the answer was complete.";

/** A failed response as a Problem: the server's `detail`, a `Retry-After` (seconds or a date),
 * and whether signing in (a Bearer challenge, App Service Authentication) or a function key (a
 * bare 401/403, the Functions host) would help. */
export async function problemOf(resp) {
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  const signIn = resp.status === 401
    && /^\s*bearer/i.test(resp.headers.get("WWW-Authenticate") || "");
  const needsKey = !signIn && (resp.status === 401 || resp.status === 403);
  let message = detail || resp.statusText || "The request failed.";
  if (signIn) message = "Sign in to chat: this service keeps each user\u2019s conversations apart.";
  else if (needsKey && !detail) message = "This server needs a function key.";
  return new Problem(resp.status, message, {
    retryAfter: retryAfterSeconds(resp.headers.get("Retry-After")), signIn, needsKey,
    errors: body && Array.isArray(body.errors) ? body.errors : [],
  });
}

export function retryAfterSeconds(value) {
  if (!value) return 0;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const when = Date.parse(value);
  return Number.isNaN(when) ? 0 : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

/** GET a JSON document; a Problem for any failure. */
export async function getJson(path) {
  const resp = await call(path);
  if (!resp.ok) throw await problemOf(resp);
  return resp.json();
}

/** The path of a thread's route (`threads/{id}` and what follows it). */
export function threadPath(threadId, ...rest) {
  return ["threads", threadId, ...rest].map((part, i) => (i ? encodeURIComponent(part) : part)).join("/");
}

// ---- the question's length limit -----------------------------------------------------------

/** `MAX_INPUT_CHARS`, as the OpenAPI document states it (`maxLength` of `user_input` in the
 * body of /stream); 0 when it can't be read. */
export async function inputLimit() {
  let doc;
  try {
    doc = await getJson("openapi.json");
  } catch (_) {
    return 0;
  }
  const resolve = (schema) => {
    let s = schema || {};
    for (let i = 0; i < 8 && s.$ref; i++) {
      s = s.$ref.replace(/^#\//, "").split("/").reduce((o, k) => (o || {})[k], doc) || {};
    }
    return s;
  };
  const body = resolve(doc.paths?.["/stream"]?.post?.requestBody?.content?.["application/json"]?.schema);
  return Number(resolve(body.properties?.user_input).maxLength) || 0;
}
