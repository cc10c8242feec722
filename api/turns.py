"""Running turns for the HTTP layer: the one way every handler and protocol runs one.

`answer` runs a turn to its answer within a deadline; `admit` does what a streamed turn must
do before its response starts (the owner check, then the thread's lease), so a foreign thread
is a plain 404 and a busy one a plain 409; `Admitted.events` then runs it (`/stream` frames
its events itself), and `Admitted.live` gives its events with `KEEPALIVE` while it is quiet,
for the other protocols. Every failure comes out as a `Problem` (`api.problems`), whatever the
protocol that renders it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.events import Answer, BotEvent, Token
from agent.ownership import Owner
from agent.runtime import get_bot
from agent.settings import get_settings
from agent.turns import Decision, Role, TurnRequest
from api.problems import DeadlinePassed, deadline_passed, problem_of
from api.sse import KeepAlive

if TYPE_CHECKING:
    from agent.bot import Bot
    from agent.memory.leases import Claim
    from agent.models.streamed_reply import TokenSink

log = logging.getLogger(__name__)
KEEPALIVE = object()  # from `Admitted.live` while the run is quiet
DONE = object()  # put on a queue after its last item
_cancelling: set[asyncio.Task[None]] = set()  # keeps cancelled runs referenced


async def answer(turn: TurnRequest, seconds: float | None = None) -> Answer:
    """Run `turn` to its answer within `seconds` (default REQUEST_DEADLINE_SECONDS); any
    failure is raised as a `Problem` (`DeadlinePassed` for the deadline)."""
    if seconds is None:
        seconds = get_settings().request_deadline_seconds
    if seconds <= 0:
        raise _deadline(turn)
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await (await get_bot()).answer(turn)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise _deadline(turn) from None
        raise problem_of(exc, f"run {turn.run_id}") from None


def _deadline(turn: TurnRequest) -> DeadlinePassed:
    log.warning("run %s cut at the request deadline", turn.run_id)
    return deadline_passed()


@dataclass
class Admitted:
    """A turn cleared to stream: it passed the owner check and holds the thread's lease.
    A bot that failed to build is carried as `failure`, reported by the stream itself."""

    turn: TurnRequest
    bot: Bot | None
    claim: Claim | None
    failure: Exception | None = None

    async def events(self, on_token: TokenSink) -> AsyncGenerator[BotEvent, None]:
        """The run's events (answer tokens go to `on_token`)."""
        if self.bot is None:
            raise self.failure or RuntimeError("no bot")
        async for event in self.bot.run(self.turn, claim=self.claim, on_token=on_token):
            yield event

    async def live(self) -> AsyncIterator[object]:
        """The run's `Token`, `ToolEvent` and `Answer` events, and `KEEPALIVE` whenever
        nothing happened for SSE_KEEPALIVE_SECONDS; a failure of the run is raised as a
        `Problem`. Closing the iterator cancels the run."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        producer = asyncio.create_task(_pump(self.events(lambda t: queue.put_nowait(Token(t))),
                                             queue))
        try:
            async with contextlib.aclosing(
                    drained(queue, get_settings().sse_keepalive_seconds)) as batches:
                async for batch in batches:
                    for item in batch:
                        if isinstance(item, BaseException):
                            raise problem_of(item, f"run {self.turn.run_id}") from None
                        yield item
        finally:
            if not producer.done():
                # Cancel once and don't wait: the consumer may itself be under cancellation.
                producer.cancel()
                _cancelling.add(producer)
                producer.add_done_callback(_cancelling.discard)
                log.info("run %s cancelled: the stream was closed", self.turn.run_id)

    async def abandon(self) -> None:
        """Give the lease back if the run never started (the client left at once)."""
        if self.claim is not None:
            await self.claim.abandon()


async def admit(turn: TurnRequest) -> Admitted:
    """The owner check and the lease of a turn about to stream, or a `Problem` (404, 409)."""
    try:
        bot = await get_bot()
    except Exception as exc:
        return Admitted(turn, None, None, exc)
    try:
        claim = await bot.admit(turn)
    except Exception as exc:
        raise problem_of(exc, f"admitting run {turn.run_id}") from None
    return Admitted(turn, bot, claim)


async def drained(queue: asyncio.Queue[object], seconds: float
                  ) -> AsyncGenerator[list[object], None]:
    """The items put on `queue` until `DONE`, in batches (all that piled up while the last
    one was handled, so each can be one write), or `[KEEPALIVE]` when none came for
    `seconds`."""
    keepalive = KeepAlive(queue, seconds, KEEPALIVE)
    try:
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            done = next((n for n, item in enumerate(items) if item is DONE), None)
            batch = [item for item in items[:done] if item is not KEEPALIVE]
            if batch or done is None:
                keepalive.sent()
                yield batch or [KEEPALIVE]
            if done is not None:
                return
    finally:
        keepalive.cancel()


async def _pump(events: AsyncIterator[BotEvent], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            queue.put_nowait(event)
    except Exception as exc:  # raised to the consumer, which reports it in its protocol
        queue.put_nowait(exc)
    finally:
        queue.put_nowait(DONE)


async def enabled_specialists() -> frozenset[str]:
    """The specialists this deployment has set up (builds the bot on first use)."""
    return frozenset((await get_bot()).specialists)


def new_turn(question: str | None, thread_id: str | None, owner: Owner | None = None, *,
             specialist: str | None = None, history: tuple[tuple[Role, str], ...] = (),
             resume: Decision | None = None, can_pause: bool = True) -> TurnRequest:
    """A protocol's turn: on `thread_id`, or stateless (None: `history` is the conversation
    and no thread is read or written). `can_pause=False` for a protocol that can't show a
    call waiting for approval: such a call is declined instead."""
    run_id = str(uuid.uuid4())
    if thread_id is None:
        return TurnRequest(thread_id=f"stateless-{run_id}", run_id=run_id, question=question,
                           specialist=specialist, history=history, stateless=True,
                           can_pause=False)
    return TurnRequest(thread_id=thread_id, run_id=run_id, question=question, owner=owner,
                       specialist=specialist, resume=resume, can_pause=can_pause)
