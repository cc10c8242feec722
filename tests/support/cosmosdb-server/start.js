#!/usr/bin/env node
/*
 * Test-harness launcher for @vercel/cosmosdb-server (a Cosmos DB for NoSQL REST server, in memory).
 *
 * Usage: node start.js --port 8081 [--host 127.0.0.1]
 *
 * It listens on loopback only and patches two gaps of the stand-in so that it behaves like the
 * real service where the product code depends on it:
 *   - reading a missing item answers 404 NotFound (the stand-in answers 500);
 *   - a request body over 2 MB (Cosmos' item size limit) is refused with 413 RequestEntityTooLarge
 *     (the stand-in accepts any size), so size handling is tested against a real limit.
 * It also counts the requests it serves; `GET /_harness/requests` returns {"requests": N}
 * (that route itself is not counted). The tests use it to measure requests per chat turn.
 */
"use strict";

const path = require("path");

const lib = path.join(__dirname, "node_modules", "@vercel", "cosmosdb-server", "lib");
const readDocument = require(path.join(lib, "handler", "read-document.js"));
const { parsePartitionKey } = require(path.join(lib, "utils", "get-partition-from-header.js"));

const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

// Patch 1: 404 for a missing item (must run before the routes table is built).
const originalReadDocument = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
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
  return originalReadDocument(account, req, res, params);
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
let requests = 0;

function reply(res, status, body) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("x-ms-activity-id", "00000000-0000-0000-0000-000000000000");
  res.end(JSON.stringify(body));
}

server.on("request", (req, res) => {
  if (req.method === "GET" && req.url === "/_harness/requests") {
    reply(res, 200, { requests });
    return;
  }
  requests += 1;
  // Patch 2: the 2 MB request size limit of the real service.
  const length = parseInt(req.headers["content-length"] || "0", 10);
  if (length > MAX_REQUEST_BYTES) {
    req.resume();
    reply(res, 413, { code: "RequestEntityTooLarge", message: "Request size is too large" });
    return;
  }
  serve(req, res);
});

server.listen(port, host, () => {
  console.log(`cosmosdb-server listening on https://${host}:${server.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
