"""Running turns for the HTTP layer: the one way every handler and protocol runs one.

`answer` runs a turn to its answer within a deadline; `admit` does what a streamed turn must
do before its response starts (the owner check, then the thread's lease), so a foreign thread
is a plain 404 and a busy one a plain 409; `Admitted.events` then runs it. Every failure
comes out as a `Problem` (`api.problems`), whatever the protocol that renders it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.events import Answer, BotEvent
from agent.runtime import get_bot
from agent.settings import get_settings
from agent.turns import TurnRequest
from api.problems import Problem, deadline_passed, problem_of

if TYPE_CHECKING:
    from agent.bot import Bot
    from agent.memory.leases import Claim
    from agent.models.streamed_reply import TokenSink

log = logging.getLogger(__name__)


class DeadlinePassed(Problem):
    """504: the request's deadline (REQUEST_DEADLINE_SECONDS) passed before the answer."""


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
    problem = deadline_passed()
    return DeadlinePassed(problem.status, problem.detail)


@dataclass
class Admitted:
    """A turn cleared to stream: it passed the owner check and holds the thread's lease.
    A bot that failed to build is carried as `failure`, reported by the stream itself."""

    turn: TurnRequest
    bot: Bot | None
    claim: Claim | None
    failure: Exception | None = None

    async def events(self, on_token: TokenSink) -> AsyncIterator[BotEvent]:
        """The run's events (answer tokens go to `on_token`)."""
        if self.bot is None:
            raise self.failure or RuntimeError("no bot")
        async for event in self.bot.run(self.turn, claim=self.claim, on_token=on_token):
            yield event

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
