#!/usr/bin/env node
/*
 * Test-harness launcher for @vercel/cosmosdb-server (a Cosmos DB for NoSQL REST server, in memory).
 *
 * Usage: node start.js --port 8081 [--host 127.0.0.1]
 *
 * It listens on loopback only and patches the stand-in where it is laxer than the real service,
 * so the product code is tested against the service's rules:
 *   - reading a missing item answers 404 NotFound (the stand-in answers 500);
 *   - a request body over 2 MB (Cosmos' item size limit) is refused with 413 RequestEntityTooLarge;
 *   - time to live is enforced: with the container's `defaultTtl` set (-1 or seconds), an item
 *     expires `ttl` (its own, else the container's) seconds after its last write (`_ts`); expired
 *     items are gone for reads, queries and writes alike. No `defaultTtl`: nothing expires;
 *   - a transactional batch is all or nothing: at most 100 operations, all in the partition of
 *     the `x-ms-documentdb-partitionkey` header; when one operation fails, every change of the
 *     batch is rolled back and the response is 207 with the failed operation's status and 424
 *     (failed dependency) for the others;
 *   - `Prefer: return=minimal` (the SDK's `no_response` / `no_response_on_write`) leaves the item
 *     out of write responses (single writes and batch operations), as the service does.
 *
 * Harness routes (not counted as requests):
 *   GET  /_harness/requests  -> {"requests": N}
 *   GET  /_harness/stats     -> requests, bytes written (request bodies of writes), bytes read
 *                               (response bodies of reads and queries), bytes of write responses,
 *                               and the live items with their total JSON size
 *   POST /_harness/clock     {"advance_seconds": s, "tick_seconds": t} -> {"now": seconds}: move the
 *                               server's clock forward by s, and by t after every request from now on
 *   POST /_harness/faults    {"fail_ids": ["part of an item id", ...], "status": 500}: every write or
 *                               delete of an item whose id contains one of them fails with `status`
 *                               (alone, or inside a batch); {"fail_ids": []} clears them
 */
"use strict";

const path = require("path");

const lib = path.join(__dirname, "node_modules", "@vercel", "cosmosdb-server", "lib");
const readDocument = require(path.join(lib, "handler", "read-document.js"));
const batchDocuments = require(path.join(lib, "handler", "batch-documents.js"));
const operations = require(path.join(lib, "handler", "_document-operations.js"));
const accountModule = require(path.join(lib, "account", "index.js"));
const readJson = require(path.join(lib, "json.js")).default;
const { parsePartitionKey } = require(path.join(lib, "utils", "get-partition-from-header.js"));

const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const MAX_BATCH_OPERATIONS = 100;

// --- The server's clock (tests move it instead of sleeping) ------------------------------------
const realNow = Date.now.bind(Date);
let clockOffsetMs = 0;
let tickMs = 0;
Date.now = () => realNow() + clockOffsetMs;
const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- Capture the account (the stand-in keeps it in a closure) ----------------------------------
let account = null;
const OriginalAccount = accountModule.default;
accountModule.default = class extends OriginalAccount {
  constructor(...args) {
    super(...args);
    account = this;
  }
};

function* collections() {
  if (!account) return;
  for (const database of account.databases._data.values()) {
    for (const collection of database.collections._data.values()) {
      if (collection.read()) yield collection;
    }
  }
}

function partitionPath(collection) {
  const paths = ((collection.read() || {}).partitionKey || {}).paths || ["/id"];
  return paths[0].slice(1).split("/");
}

function valueAt(keys, doc) {
  return keys.reduce((value, key) => (value == null ? undefined : value[key]), doc);
}

// --- Time to live -------------------------------------------------------------------------------
function expired(doc, defaultTtl, now) {
  const ttl = doc.ttl !== undefined && doc.ttl !== null ? doc.ttl : defaultTtl;
  return typeof ttl === "number" && ttl > 0 && doc._ts + ttl <= now;
}

function purgeExpired() {
  const now = nowSeconds();
  for (const collection of collections()) {
    const { defaultTtl } = collection.read();
    if (defaultTtl === undefined || defaultTtl === null) continue;
    const keys = partitionPath(collection);
    for (const item of [...collection.documents._data.values()]) {
      const doc = item.read();
      if (doc && expired(doc, defaultTtl, now)) {
        collection.documents.delete(doc.id, valueAt(keys, doc));
      }
    }
  }
}

// --- Injected faults ----------------------------------------------------------------------------
let faults = { ids: [], status: 500 };

function faulted(id) {
  if (typeof id !== "string" || !faults.ids.some(part => id.includes(part))) return null;
  return {
    statusCode: faults.status,
    body: { code: "InjectedFault", message: `injected failure for item ${id}` }
  };
}

for (const name of ["createOperation", "upsertOperation", "replaceOperation", "deleteOperation"]) {
  const original = operations[name];
  operations[name] = (collection, input) => {
    const id = input.resourceBody ? input.resourceBody.id : input.id;
    return faulted(id) || original(collection, input);
  };
}

// --- Patch: 404 for a missing item (must run before the routes table is built) ------------------
const originalReadDocument = readDocument.default;
readDocument.default = (acct, req, res, params) => {
  const collection = acct.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    let partitionKey;
    try {
      partitionKey = parsePartitionKey(req.headers["x-ms-documentdb-partitionkey"], params.docId);
    } catch (err) {
      partitionKey = undefined;
    }
    if (partitionKey !== undefined && !collection.document(params.docId, partitionKey).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return originalReadDocument(acct, req, res, params);
};

// --- Patch: transactional batches are atomic, bounded and single-partition ----------------------
const RUNNERS = {
  Create: input => c => operations.createOperation(c, input),
  Upsert: input => c => operations.upsertOperation(c, input),
  Replace: input => c => operations.replaceOperation(c, input),
  Delete: input => c => operations.deleteOperation(c, input),
  Read: input => c => operations.readOperation(c, input)
};

function badRequest(res, message) {
  res.statusCode = 400;
  return { code: "BadRequest", message };
}

batchDocuments.default = async (acct, req, res, { dbId, collId }) => {
  const body = await readJson(req);
  const collection = acct.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return { code: "NotFound", message: "Resource Not Found" };
  }
  if (!Array.isArray(body) || body.length === 0) {
    return badRequest(res, "The batch request did not have any operations to be executed.");
  }
  if (body.length > MAX_BATCH_OPERATIONS) {
    return badRequest(res, "Batch request has more operations than what is supported.");
  }
  const header = req.headers["x-ms-documentdb-partitionkey"];
  let partition;
  try {
    partition = JSON.parse(header)[0];
  } catch (err) {
    return badRequest(res, "A transactional batch needs the partition key header.");
  }
  const keys = partitionPath(collection);
  const minimal = /return=minimal/i.test(req.headers.prefer || "");
  // Everything the batch may change, as it was before: restored if any operation fails.
  const before = new Map();
  for (const op of body) {
    const id = op && (op.resourceBody ? op.resourceBody.id : op.id);
    if (typeof id === "string" && !before.has(id)) {
      const existing = collection.document(id, partition).read();
      before.set(id, existing ? { ...existing } : null);
    }
  }
  const results = [];
  let failedAt = -1;
  for (let i = 0; i < body.length; i += 1) {
    const op = body[i] || {};
    let result;
    if (op.resourceBody && valueAt(keys, op.resourceBody) !== partition) {
      result = { statusCode: 400, body: { code: "BadRequest", message: "PartitionKey mismatch" } };
    } else if (!RUNNERS[op.operationType]) {
      return badRequest(res, `Operation type '${op.operationType}' is not supported in Batch.`);
    } else {
      result = RUNNERS[op.operationType]({ ...op, partitionKey: op.partitionKey || header })(
        collection
      );
    }
    results.push(result);
    if (result.statusCode >= 400) {
      failedAt = i;
      break;
    }
  }
  if (failedAt >= 0) {
    for (const [id, previous] of before) {
      if (collection.document(id, partition).read()) collection.documents.delete(id, partition);
      if (previous) collection.documents._set(previous);
    }
    res.statusCode = 207;
    return body.map((_, i) =>
      i === failedAt
        ? { statusCode: results[i].statusCode, requestCharge: 0, resourceBody: results[i].body }
        : { statusCode: 424, requestCharge: 0 }
    );
  }
  res.statusCode = 200;
  return results.map(result => {
    const out = { statusCode: result.statusCode, requestCharge: 1 };
    if (result.body && result.body._etag) out.eTag = result.body._etag;
    if (result.body && !minimal) out.resourceBody = result.body;
    return out;
  });
};

const { createHttpsServer } = require(path.join(lib, "index.js"));

const args = process.argv.slice(2);
let port = 0;
let host = "127.0.0.1";
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === "--port") port = parseInt(args[(i += 1)], 10);
  else if (args[i] === "--host") host = args[(i += 1)];
}
if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
  console.error("refusing to listen on a non-loopback address");
  process.exit(2);
}

const server = createHttpsServer({ keepAlive: true });
const [serve] = server.listeners("request");
server.removeAllListeners("request");

const stats = {
  requests: 0,
  read_requests: 0,
  write_requests: 0,
  bytes_written: 0,
  bytes_read: 0,
  write_response_bytes: 0
};

function reply(res, status, body) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("x-ms-activity-id", "00000000-0000-0000-0000-000000000000");
  res.end(JSON.stringify(body));
}

function storeStats() {
  let items = 0;
  let bytes = 0;
  for (const collection of collections()) {
    for (const item of collection.documents._data.values()) {
      items += 1;
      bytes += Buffer.byteLength(JSON.stringify(item.read()));
    }
  }
  return { items, stored_bytes: bytes };
}

function isQuery(req) {
  const flag = String(req.headers["x-ms-documentdb-isquery"] || "").toLowerCase() === "true";
  return flag || req.headers["content-type"] === "application/query+json";
}

async function harness(req, res) {
  if (req.method === "GET" && req.url === "/_harness/requests") {
    return reply(res, 200, { requests: stats.requests });
  }
  if (req.method === "GET" && req.url === "/_harness/stats") {
    purgeExpired();
    return reply(res, 200, { ...stats, ...storeStats() });
  }
  const body = req.method === "POST" ? await readJson(req) : {};
  if (req.url === "/_harness/clock") {
    clockOffsetMs += Math.round(1000 * (body.advance_seconds || 0));
    if (body.tick_seconds !== undefined) tickMs = Math.round(1000 * body.tick_seconds);
    return reply(res, 200, { now: Date.now() / 1000 });
  }
  if (req.url === "/_harness/faults") {
    faults = { ids: body.fail_ids || [], status: body.status || 500 };
    return reply(res, 200, faults);
  }
  return reply(res, 404, { code: "NotFound", message: "no such harness route" });
}

server.on("request", (req, res) => {
  if (req.url.startsWith("/_harness/")) {
    harness(req, res).catch(err => reply(res, 500, { message: String(err) }));
    return;
  }
  stats.requests += 1;
  const reading = req.method === "GET" || (req.method === "POST" && isQuery(req));
  const length = parseInt(req.headers["content-length"] || "0", 10);
  if (reading) stats.read_requests += 1;
  else {
    stats.write_requests += 1;
    stats.bytes_written += length;
  }
  // The 2 MB request size limit of the real service.
  if (length > MAX_REQUEST_BYTES) {
    req.resume();
    reply(res, 413, { code: "RequestEntityTooLarge", message: "Request size is too large" });
    return;
  }
  purgeExpired();
  const minimal = !reading && /return=minimal/i.test(req.headers.prefer || "");
  const isBatch = String(req.headers["x-ms-cosmos-is-batch-request"] || "").toLowerCase() === "true";
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    let out = chunk;
    if (minimal && !isBatch && res.statusCode < 300 && req.method !== "DELETE") out = "";
    const size = out ? Buffer.byteLength(out) : 0;
    if (reading) stats.bytes_read += size;
    else stats.write_response_bytes += size;
    clockOffsetMs += tickMs;
    return end(out, ...rest);
  };
  serve(req, res);
});

server.listen(port, host, () => {
  console.log(`cosmosdb-server listening on https://${host}:${server.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
