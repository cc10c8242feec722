"""How the protocol endpoints (OpenAI-compatible, MCP, AG-UI) run a turn and read a body, until
`api/turns.py` (issue 21) is the one way every handler does: each function here is the one
place to switch, and the protocol modules use nothing else of the bot or of the body parsing.

- `answer(turn)`: run a turn to its `Answer` within REQUEST_DEADLINE_SECONDS;
- `open_stream(turn)`: take the thread's lease and check its owner *before* a response starts
  (so a busy thread is a plain 409, another user's a plain 404), then `TurnStream.events()`
  yields the run's events (answer tokens as they arrive, tool events, the `Answer`) with
  `KEEPALIVE` whenever nothing happened for SSE_KEEPALIVE_SECONDS; closing it cancels the run;
- `failure_of(exc)`: what the client is told about any failure (status, plain message,
  headers), the same mapping as `/invoke` (`api.failures`), for each protocol to render;
- `read_json(request)`: the strict JSON body rules of the API (415, 413, 400, 422).

A *stateless* turn (`thread_id` None) answers `question` with `history` as the conversation and
keeps nothing. Until the bot takes `TurnRequest(stateless=True, history=...)`, it runs on a
throwaway thread seeded with the history and deleted after the turn. A forced `specialist` is
sent as an `@mention` in front of the question until `TurnRequest.specialist` exists.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request

from agent.events import Answer, BotEvent, Token
from agent.memory.leases import ThreadBusy  # light: no store SDK is imported
from agent.ownership import ThreadNotFound
from agent.runtime import get_bot
from agent.settings import get_settings
from api.errors import BadRequest, check_content_type, decode_json, read_body
from api.failures import describe_failure

if TYPE_CHECKING:
    from agent.bot import Bot
    from agent.memory.leases import Claim

log = logging.getLogger(__name__)

Role = Literal["user", "assistant"]
KEEPALIVE = object()  # yielded by `TurnStream.events` while the run is quiet
_DONE = object()
_cancelling: set[asyncio.Task[None]] = set()  # keeps cancelled runs referenced
STATELESS_PREFIX = "stateless-"


@dataclass(frozen=True)
class Resume:
    """A person's decision on a paused tool call (issue 24's `Decision`): it resumes the run."""

    interrupt_id: str
    decision: Literal["approve", "edit", "reject"]
    args: dict[str, Any] | None = None
    message: str | None = None


class NothingToResume(LookupError):
    """A decision for a paused run this thread doesn't have (404)."""

    def __init__(self, thread_id: str, interrupt_id: str) -> None:
        super().__init__(f"Thread {thread_id!r} has no paused run waiting for a decision on "
                         f"interrupt {interrupt_id!r}.")


@dataclass(frozen=True)
class ProtocolTurn:
    """One question to answer (or a paused run to resume), as a protocol asks it."""

    question: str
    thread_id: str | None = None  # None: stateless (the history is the conversation)
    owner: str | None = None  # the signed-in caller (AUTH_MODE=easyauth)
    specialist: str | None = None  # force this specialist, as an @mention does
    history: tuple[tuple[Role, str], ...] = ()  # stateless only: the earlier messages
    resume: Resume | None = None  # continue the thread's paused run (`question` unused)
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Failure:
    """What the client is told about a failed request or run."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # the request field at fault, when one is

    @property
    def retry_after(self) -> int | None:
        """Seconds after which a retry may succeed, if the failure says so."""
        value = self.headers.get("Retry-After")
        return int(value) if value else None


class DeadlinePassed(Exception):
    """No answer within REQUEST_DEADLINE_SECONDS."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"No answer within REQUEST_DEADLINE_SECONDS ({seconds:g} s), the "
                         "longest a request may take here. Stream the answer for long ones.")


def failure_of(exc: BaseException, context: str) -> Failure:
    """The status, message and headers for any failure (which ended `context`, e.g. "run
    <id>"); reveals no internals. A failure that isn't the client's is logged."""
    if isinstance(exc, BadRequest):
        first = exc.body.errors[0].field if exc.body.errors else None
        return Failure(exc.status_code, exc.body.detail, field=first)
    if isinstance(exc, ThreadBusy):
        return Failure(409, str(exc), {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, DeadlinePassed):
        return Failure(504, str(exc))
    if isinstance(exc, NothingToResume):
        return Failure(404, str(exc))
    if not isinstance(exc, ThreadNotFound):
        log.error("%s failed", context, exc_info=exc)
    described = describe_failure(exc)
    return Failure(described.status, described.message, dict(described.headers))


def body_limit() -> int:
    """The largest body a protocol endpoint reads: the `/batch` limit (a conversation of
    messages is about as large as a batch of questions)."""
    settings = get_settings()
    return 4 * settings.max_input_chars * settings.max_batch_questions + 4096


async def read_json(request: Request) -> tuple[bytes, Any]:
    """The body, and what it holds as strict UTF-8 JSON; or `BadRequest`: 415 for another
    content type, 413 over `body_limit()`, 400 for what isn't JSON, 422 for invalid Unicode or
    repeated keys."""
    check_content_type(request)
    body = await read_body(request, body_limit())
    return body, decode_json(body)


async def enabled_specialists() -> frozenset[str]:
    """The specialists this deployment has set up (builds the bot on first use)."""
    return frozenset((await get_bot()).specialists)


def _question(turn: ProtocolTurn) -> str:
    return f"@{turn.specialist} {turn.question}" if turn.specialist else turn.question


async def _seed(bot: Bot, turn: ProtocolTurn) -> str:
    """A throwaway thread holding the stateless turn's history."""
    thread_id = f"{STATELESS_PREFIX}{uuid.uuid4()}"
    if turn.history:
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

        from agent.routing import UNAVAILABLE

        messages: list[BaseMessage] = [HumanMessage(text) if role == "user" else AIMessage(text)
                                       for role, text in turn.history]
        # As if a finished turn had written them: the node before END, nothing left to run.
        await bot.graph.aupdate_state({"configurable": {"thread_id": thread_id}},
                                      {"messages": messages}, as_node=UNAVAILABLE)
    return thread_id


async def _discard(bot: Bot, thread_id: str) -> None:
    try:
        await bot.delete_thread(thread_id)
    except Exception:
        log.warning("deleting the throwaway thread %s failed", thread_id, exc_info=True)


async def answer(turn: ProtocolTurn) -> Answer:
    """Run `turn` to its answer within REQUEST_DEADLINE_SECONDS (`DeadlinePassed` after)."""
    seconds = get_settings().request_deadline_seconds
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            bot = await get_bot()
            if turn.thread_id is not None:
                return await bot.answer(_question(turn), turn.thread_id, turn.run_id, turn.owner)
            thread_id = await _seed(bot, turn)
            try:
                return await bot.answer(_question(turn), thread_id, turn.run_id)
            finally:
                await asyncio.shield(_discard(bot, thread_id))
    except TimeoutError:
        if deadline.expired():
            log.warning("run %s cut at the request deadline", turn.run_id)
            raise DeadlinePassed(seconds) from None
        raise


class TurnStream:
    """A turn ready to stream: the thread's lease is held (or the throwaway thread seeded)."""

    def __init__(self, bot: Bot, turn: ProtocolTurn, thread_id: str,
                 claim: Claim | None) -> None:
        self.turn = turn
        self._bot = bot
        self._thread_id = thread_id
        self._claim = claim
        self._started = False

    async def _run(self, on_token: Callable[[str], None]) -> AsyncIterator[BotEvent]:
        stateless = self.turn.thread_id is None
        try:
            async for event in self._bot.events(
                    _question(self.turn), self._thread_id, self.turn.run_id, self._claim,
                    None if stateless else self.turn.owner, on_token=on_token):
                yield event
        finally:
            if stateless:
                await asyncio.shield(_discard(self._bot, self._thread_id))

    async def events(self) -> AsyncIterator[object]:
        """The run's `Token`, `ToolEvent` and `Answer` events, `KEEPALIVE` while it is quiet;
        a failure of the run is raised. Closing the iterator cancels the run."""
        self._started = True
        queue: asyncio.Queue[object] = asyncio.Queue()
        producer = asyncio.create_task(_pump(self._run(lambda t: queue.put_nowait(Token(t))),
                                             queue))
        keepalive = get_settings().sse_keepalive_seconds
        try:
            while True:
                try:
                    async with asyncio.timeout(keepalive):
                        item = await queue.get()
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not producer.done():
                # Cancel once and don't wait: the consumer may itself be under cancellation.
                producer.cancel()
                _cancelling.add(producer)
                producer.add_done_callback(_cancelling.discard)
                log.info("run %s cancelled: the stream was closed", self.turn.run_id)

    async def abandon(self) -> None:
        """Give back what a stream that never started holds (the lease, the seeded thread)."""
        if self._started:
            return
        if self._claim is not None:
            await self._claim.abandon()
        if self.turn.thread_id is None:
            await _discard(self._bot, self._thread_id)


async def _pump(events: AsyncIterator[BotEvent], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            queue.put_nowait(event)
    except Exception as exc:  # raised to the consumer, which reports it in its protocol
        queue.put_nowait(exc)
    finally:
        queue.put_nowait(_DONE)


async def open_stream(turn: ProtocolTurn) -> TurnStream:
    """Prepare `turn` for streaming: `ThreadBusy` or `ThreadNotFound` (another user's thread)
    are raised here, before any response; so is a bot that fails to build."""
    bot = await get_bot()
    if turn.resume is not None:
        # The hook for approvals (issue 24): until the bot pauses runs, none waits here.
        raise NothingToResume(turn.thread_id or "", turn.resume.interrupt_id)
    if turn.thread_id is None:
        return TurnStream(bot, turn, await _seed(bot, turn), None)
    claim = await bot.claim(turn.thread_id)
    try:
        await bot.check_owner(turn.thread_id, turn.owner)
    except BaseException:
        await claim.abandon()
        raise
    return TurnStream(bot, turn, turn.thread_id, claim)
