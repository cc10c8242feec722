// Server-Sent Events over fetch (EventSource can't POST). The parsing rules of the standard:
// lines end with \r\n, \r or \n; a blank line dispatches the event; `:` starts a comment (a
// keep-alive); one space after `field:` is dropped; data lines join with \n; `id` is kept (the
// last one seen), so a client can say where it stopped.

export function sseParser(onEvent) {
  let buffer = "";
  let event = "";
  let data = [];
  let lastId = "";
  const line = (text) => {
    if (text === "") {
      if (data.length) onEvent({ type: event || "message", data: data.join("\n"), id: lastId });
      event = "";
      data = [];
      return;
    }
    if (text[0] === ":") { onEvent({ type: "comment", data: text.slice(1).trim(), id: lastId }); return; }
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) lastId = value;
  };
  const feed = (chunk) => {
    buffer += chunk;
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = ends.exec(buffer))) {
      // a lone \r at the end may be the first half of \r\n: wait for more
      if (match[0] === "\r" && match.index === buffer.length - 1) break;
      line(buffer.slice(start, match.index));
      start = ends.lastIndex;
    }
    buffer = buffer.slice(start);
  };
  feed.end = () => feed("\n\n"); // a final event without its blank line
  return feed;
}

/** Reads a `text/event-stream` response to its end, calling `onEvent` for each event. */
export async function readEvents(resp, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  const feed = sseParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    feed(value);
  }
  feed.end();
}
