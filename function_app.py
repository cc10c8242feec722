"""Azure Functions entry point (Python v2 model): binds the API's handlers to HTTP triggers.

Every route uses the `azurefunctions-extensions-http-fastapi` request/response types, so
`/stream` streams for real. GET routes answer HEAD too (the host sends no body), and OPTIONS
on any path answers the methods the route table allows there. Importing this module builds
nothing: the graph, the model client and the checkpointer are built lazily, once per worker
process, on the first request.
"""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Request,
    Response,
    StreamingResponse,
)

from api import (
    agui,
    chat_ui,
    docs_ui,
    handlers,
    mcp_server,
    openai_compat,
    routes,
    runs,
    threads,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
ANONYMOUS = func.AuthLevel.ANONYMOUS


@app.route(route="invoke", methods=["POST"])
async def invoke(req: Request) -> JSONResponse:
    """POST /invoke."""
    return await handlers.invoke(req)


@app.route(route="stream", methods=["POST"])
async def stream(req: Request) -> StreamingResponse:
    """POST /stream (Server-Sent Events)."""
    return await handlers.stream(req)


@app.route(route="batch", methods=["POST"])
async def batch(req: Request) -> JSONResponse:
    """POST /batch."""
    return await handlers.batch(req)


@app.route(route="threads", methods=["GET", "HEAD"])
async def list_threads(req: Request) -> JSONResponse:
    """GET /threads."""
    return await threads.list_threads(req)


@app.route(route="threads/{thread_id}", methods=["GET", "HEAD"])
async def get_thread(req: Request) -> JSONResponse:
    """GET /threads/{thread_id}."""
    return await threads.get_thread(req)


@app.route(route="threads/{thread_id}", methods=["PATCH"])
async def rename_thread(req: Request) -> JSONResponse:
    """PATCH /threads/{thread_id}."""
    return await threads.rename_thread(req)


@app.route(route="threads/{thread_id}", methods=["DELETE"])
async def delete_thread(req: Request) -> Response:
    """DELETE /threads/{thread_id}."""
    return await threads.delete_thread(req)


@app.route(route="threads/{thread_id}/runs/{run_id}/stream", methods=["GET", "HEAD"])
async def join_run(req: Request) -> StreamingResponse:
    """GET /threads/{thread_id}/runs/{run_id}/stream (rejoin a run: Server-Sent Events)."""
    return await runs.join_run(req)


@app.route(route="threads/{thread_id}/runs/{run_id}/cancel", methods=["POST"])
async def cancel_run(req: Request) -> Response:
    """POST /threads/{thread_id}/runs/{run_id}/cancel (stop a streamed run)."""
    return await runs.cancel_run(req)


@app.route(route="threads/{thread_id}/runs/{run_id}/feedback", methods=["POST"])
async def give_feedback(req: Request) -> JSONResponse:
    """POST /threads/{thread_id}/runs/{run_id}/feedback."""
    return await threads.give_feedback(req)


@app.route(route="v1/chat/completions", methods=["POST"])
async def chat_completions(req: Request) -> Response:
    """POST /v1/chat/completions (OpenAI-compatible; JSON, or SSE when streamed)."""
    return await openai_compat.chat_completions(req)


@app.route(route="v1/models", methods=["GET", "HEAD"])
async def list_models(req: Request) -> JSONResponse:
    """GET /v1/models (OpenAI-compatible)."""
    return await openai_compat.list_models(req)


@app.route(route="mcp", methods=["POST"])
async def mcp(req: Request) -> Response:
    """POST /mcp (MCP streamable HTTP, stateless, JSON responses)."""
    return await mcp_server.mcp(req)


@app.route(route="ag-ui", methods=["POST"])
async def ag_ui(req: Request) -> StreamingResponse:
    """POST /ag-ui (AG-UI events as SSE)."""
    return await agui.ag_ui(req)


@app.route(route="health", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def health(req: Request) -> JSONResponse:
    """GET /health."""
    return await handlers.health(req)


@app.route(route="openapi.json", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def openapi_json(req: Request) -> JSONResponse:
    """GET /openapi.json."""
    return await routes.openapi_json(req)


@app.route(route="docs", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def docs(req: Request) -> HTMLResponse:
    """GET /docs (Swagger UI)."""
    return await docs_ui.docs_page(req)


@app.route(route="docs/assets/{name}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def docs_asset(req: Request) -> FileResponse:
    """GET /docs/assets/{name} (Swagger UI files, packaged)."""
    return await docs_ui.docs_asset(req)


@app.route(route="chat", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def chat(req: Request) -> HTMLResponse:
    """GET /chat (the chat page; its API calls carry the function key)."""
    return await chat_ui.chat_page(req)


@app.route(route="chat/assets/{name}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
async def chat_asset(req: Request) -> Response:
    """GET /chat/assets/{name} (the chat page's script and stylesheet, packaged)."""
    return await chat_ui.chat_asset(req)


@app.route(route="{*path}", methods=["OPTIONS"], auth_level=ANONYMOUS)
async def options(req: Request) -> Response:
    """OPTIONS on any path: `Allow` from the route table (204), or 404."""
    return await routes.other_method(req)
