"""The MCP server's tools (official `mcp` SDK, `MCPServer`): one tool, `ask`.

`ask(question, thread_id?, specialist?)` runs one turn of the bot and returns the answer as text
(citations `[[n]](source)` in it), then a line with the thread id to pass back for a follow-up;
its structured content (`AskResult`, declared as the tool's output schema) has the answer, the
citations as a list, the thread id, the run id and the specialist that answered. Without a
`thread_id` a new thread starts; with one, the turn continues that thread (ownership, leases and
REQUEST_DEADLINE_SECONDS apply as on `/invoke`). A failure (a busy thread, another user's thread,
the model service) is the tool's error result with the message `/invoke` would give.
Annotations: read-only (it changes nothing outside the bot's own threads), open-world (the web
and API specialists reach outside).

Imported on the first MCP request, in a worker thread (the SDK takes a few hundred ms to import).
"""

import logging
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.applications import Starlette

from agent.ownership import Owner
from agent.settings import get_settings
from api.problems import Problem
from api.schemas import THREAD_ID_MAX, THREAD_ID_PATTERN, check_thread_id
from api.text_rules import check_question_text
from api.turns import answer, enabled_specialists, new_turn

# The chat page's reading of a citation (api/static/chat/chat.js): [[n]](source).
CITATION = re.compile(r"\[\[(\d+)\]\]\(((?:[^()\s]|\([^()\s]*\))+)\)")
Specialist = Literal["docsearch", "sqlsearch", "apisearch", "websearch", "chat"]
INSTRUCTIONS = (
    "A multi-agent chat bot that answers questions from its specialists' sources (documents, "
    "a SQL database, an API, the web) with citations [[n]](source). Call `ask` with the "
    "question; pass the returned thread_id to continue the same conversation.")


class Citation(BaseModel):
    """One source the answer cites."""

    n: int = Field(description="The number the answer cites it by: [[n]].")
    source: str = Field(description="Where it came from: a URL, a document path, a table.")


class AskResult(BaseModel):
    """The answer to one question."""

    answer: str = Field(description="The answer, Markdown, with citations [[n]](source).")
    citations: list[Citation] = Field(description="The distinct sources cited, in order.")
    thread_id: str = Field(description="Pass it to `ask` again to continue the conversation.")
    run_id: str
    agent: str = Field(description="The specialist that answered.")


def citations(text: str) -> list[Citation]:
    """The distinct citations of an answer, in order of first appearance."""
    seen: dict[tuple[int, str], Citation] = {}
    for match in CITATION.finditer(text):
        key = (int(match[1]), match[2])
        seen.setdefault(key, Citation(n=key[0], source=key[1]))
    return list(seen.values())


def _checked(question: str, thread_id: str | None) -> None:
    try:
        check_question_text(question, get_settings().max_input_chars)
    except ValueError as exc:
        raise ToolError(f"question: {exc}") from None
    if thread_id is not None:
        try:
            check_thread_id(thread_id)
        except ValueError as exc:
            raise ToolError(f"thread_id: {exc}") from None


def build_server(version: str, current_owner: Callable[[], Owner | None]) -> MCPServer:
    """The MCP server; `current_owner()` is the signed-in caller of the request being served."""
    # The SDK logs each request's transport and session manager starting and stopping at INFO:
    # here that is every request.
    for name in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server = MCPServer(name="smartbot", title="Smart bot", version=version,
                       instructions=INSTRUCTIONS, log_level="WARNING")

    async def ask(
        question: Annotated[str, Field(
            description="The question, in plain words (at most MAX_INPUT_CHARS characters).")],
        thread_id: Annotated[str | None, Field(
            description="Continue this conversation (the thread_id an earlier answer gave); "
                        "leave it out to start a new one.",
            min_length=1, max_length=THREAD_ID_MAX, pattern=THREAD_ID_PATTERN)] = None,
        specialist: Annotated[Specialist | None, Field(
            description="Have this specialist answer (as an @mention does); leave it out to "
                        "let the bot choose.")] = None,
    ) -> Annotated[CallToolResult, AskResult]:
        """Ask the bot a question; it answers from its sources, with citations."""
        _checked(question, thread_id)
        if specialist is not None:
            names = await enabled_specialists()
            if specialist not in names:
                raise ToolError(f"specialist: {specialist!r} is not set up here; the "
                                f"specialists are {', '.join(sorted(names))}")
        # A tool result can't wait for approval: calls that need it are declined.
        turn = new_turn(question, thread_id or str(uuid.uuid4()), current_owner(),
                        specialist=specialist, can_pause=False)
        try:
            result = await answer(turn)
        except Problem as problem:
            raise ToolError(problem.detail) from None
        out = AskResult(answer=result.text, citations=citations(result.text),
                        thread_id=turn.thread_id, run_id=turn.run_id, agent=result.agent)
        follow_up = (f"thread_id: {turn.thread_id} (pass it to ask to continue this "
                     "conversation)")
        return CallToolResult(content=[TextContent(type="text", text=result.text),
                                       TextContent(type="text", text=follow_up)],
                              structured_content=out.model_dump())

    server.add_tool(ask, name="ask", title="Ask the bot",
                    annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                                idempotent_hint=False, open_world_hint=True),
                    structured_output=True)
    return server


def http_app(server: MCPServer, path: str) -> Starlette:
    """The SDK's streamable HTTP application for one request: stateless, JSON responses, and
    no Host/Origin allow-list (the SDK's default for a server on 127.0.0.1 would refuse the
    app's own host name in Azure with 421; requests are admitted by the function key or Easy
    Auth, as on every route)."""
    return server.streamable_http_app(
        streamable_http_path=path, json_response=True, stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
