"""Local stand-ins for the services the app talks to, shared by the tests and the benchmarks.

- `model_service`: a loopback server speaking the OpenAI / Azure OpenAI chat-completions
  protocol as strictly as the service;
- `cosmos`: runs `@vercel/cosmosdb-server` (a Cosmos DB REST server, `cosmosdb-server/`)
  patched where it is laxer than the service;
- `processes`: the dev server in a subprocess on a free loopback port, and its environment;
- `loopback_http`: any ASGI app on a free loopback port in a background thread;
- `corpus/`: a small document folder for the local docsearch index.

Nothing here is imported by the app; `.funcignore` keeps it out of the deployed package.
"""
