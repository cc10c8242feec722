"""The bot: the compiled graph with its model, tools and checkpointer, and what callers do
with it (answer, stream, read or delete a thread).

`build_bot` builds one; `agent.runtime.get_bot()` keeps one per process and event loop, built
on first use. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage

from agent import paused_turns
from agent.approvals import APPROVALS_KEY, ApprovalPolicy, RunApprovals, approval_policy
from agent.events import (
    Answer,
    BotEvent,
    Interrupt,
    ThreadView,
    Token,
    ToolEvent,
)
from agent.memory.leases import Claim, LocalLeases, TurnGate
from agent.memory.runlog import RunLog
from agent.memory.thread_index import Feedback, ThreadIndex, ThreadSummary
from agent.models.streamed_reply import SINK_KEY, TokenSink
from agent.ownership import OWNER_KEY, Owner, ThreadNotFound, may_use
from agent.settings import Settings, get_platform_settings
from agent.telemetry.usage import Turn
from agent.thread_messages import (
    conversation_view,
    final_message,
    history_messages,
    question_message,
    regenerated,
    state_messages,
)
from agent.turns import SPECIALIST_KEY, AnswerNotFound, NothingToRegenerate, TurnRequest

if TYPE_CHECKING:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.language_models import BaseChatModel

    from agent.telemetry.tracer import TurnTracer
    from agent.tools.registry import Specialists


def _config(thread_id: str, run_id: str | None = None, owner: Owner | None = None,
            callbacks: list[BaseCallbackHandler] | None = None,
            specialist: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
    if specialist:
        config["configurable"][SPECIALIST_KEY] = specialist
    if run_id:
        config["run_id"] = run_id
    if owner is not None:  # LangGraph copies it into the metadata of the turn's checkpoint
        config["metadata"] = {OWNER_KEY: owner.key}
    if callbacks:
        config["callbacks"] = callbacks
    return config


async def _none() -> None:
    return None


def _key(owner: Owner | None) -> str | None:
    return owner.key if owner is not None else None


class Bot:
    """The agent, ready to serve turns on conversation threads."""

    def __init__(self, settings: Settings, graph: Any, specialists: set[str],
                 stack: AsyncExitStack, tracer: TurnTracer | None,
                 stateless_graph: Any, index: ThreadIndex,
                 approvals: ApprovalPolicy | None = None) -> None:
        self.settings = settings
        self.approvals = approvals or ApprovalPolicy()  # tool calls that wait for a person
        self.graph = graph
        self.index = index  # thread titles, times and feedback
        # The same graph without a checkpointer: turns that read and write no thread.
        self.stateless_graph = stateless_graph
        self.specialists = specialists
        self.tracer = tracer  # spans of each turn, when telemetry is on
        self._stack = stack
        # Every event of a streamed run, kept to replay to a client that rejoins (SQLite and
        # Cosmos DB savers; None with any other checkpointer).
        self.runs: RunLog | None = getattr(graph.checkpointer, "runs", None)
        # One turn at a time per thread, across processes: a lease in the thread store.
        leases = getattr(graph.checkpointer, "leases", None) or LocalLeases()
        self.gate = TurnGate(leases, policy=settings.thread_busy,
                             wait_seconds=settings.thread_busy_wait_seconds,
                             lease_seconds=settings.thread_lease_seconds)

    async def claim(self, thread_id: str, run_id: str | None = None) -> Claim:
        """The thread's lease for one turn (`run_id`, which the lease names, so a run's
        liveness can be told from the store) or a delete; `ThreadBusy` if another holds it."""
        return await self.gate.claim(thread_id, run_id)

    async def check_owner(self, thread_id: str, owner: Owner | None) -> None:
        """Raise `ThreadNotFound` if the thread exists and `owner` may not use it (a thread that
        does not exist yet is anyone's to create; owner None: no check). Checked before the
        thread's lease is taken, so another user's requests never hold up the owner's turns,
        and again under the lease, so two first turns of different users can't both pass."""
        if owner is None:
            return
        saved = await self.graph.checkpointer.aget_tuple(_config(thread_id))
        if saved is not None and not may_use(saved.metadata, owner):
            raise ThreadNotFound(thread_id)

    async def admit(self, turn: TurnRequest) -> Claim | None:
        """What a turn must pass before it runs: the owner check, then the thread's lease
        (None for a stateless turn). `ThreadNotFound` or `ThreadBusy` otherwise."""
        if turn.stateless:
            return None
        await self.check_owner(turn.thread_id, turn.owner)
        claim = await self.claim(turn.thread_id, turn.run_id)
        if turn.resume is not None:  # a decision that can't apply is refused before any run
            try:
                await self._turn_input(turn)
            except BaseException:
                await claim.abandon()
                raise
        return claim

    async def _input(self, turn: TurnRequest) -> dict[str, Any]:
        """The graph input of a turn: its question (after the history of a stateless turn),
        or, to regenerate, the last turn's removal and its question again."""
        if turn.regenerate:
            state = await self.graph.aget_state(_config(turn.thread_id))
            writes = regenerated(state_messages(state), turn.run_id)
            if writes is None:
                raise NothingToRegenerate(turn.thread_id)
            return {"messages": writes}
        return {"messages": [*history_messages(turn), question_message(turn)]}

    async def _turn_input(self, turn: TurnRequest) -> paused_turns.TurnInput:
        """The graph input of a turn (`_input`), or a decision on the call waiting on its
        thread (checked against it: `agent.approvals.DecisionError` if it can't apply); a new
        question first declines a call left waiting, when approvals are on."""
        if turn.resume is not None:
            if turn.stateless:
                raise ValueError("a stateless turn has no paused run to resume")
            return await paused_turns.resume_input(self.graph, _config(turn.thread_id),
                                                   turn.thread_id, turn.resume, self.approvals)
        value = await self._input(turn)
        if turn.stateless or turn.regenerate or not self.approvals.enabled:
            return paused_turns.TurnInput(value)
        return await paused_turns.question_input(self.graph, _config(turn.thread_id), value)

    async def answer(self, turn: TurnRequest) -> Answer:
        """Run one turn to completion (`ThreadNotFound`, `ThreadBusy` or the run's failure)."""
        async for event in self.run(turn):
            if isinstance(event, Answer):
                return event
        raise RuntimeError("the run ended without an answer")  # pragma: no cover

    async def run(self, turn: TurnRequest, *, claim: Claim | None = None,
                  on_token: TokenSink | None = None) -> AsyncIterator[BotEvent]:
        """Run one turn, yielding tool events and answer tokens, then the `Answer`.

        `claim`: the thread's lease, from `admit` beforehand (else admitted here). With
        `on_token`, each answer token goes to it as it arrives instead of being yielded
        (straight to the caller's queue, not through LangGraph's stream)."""
        final: AIMessage | None = None
        paused: Interrupt | None = None  # the run stopped before a call, for a decision
        emitted: list[str] = []
        observed = Turn(turn.thread_id, turn.run_id, self.tracer)
        graph = self.stateless_graph if turn.stateless else self.graph
        async with observed:
            held = claim if claim is not None else await self.admit(turn)
            async with held if held is not None else contextlib.nullcontext():
                if held is not None:
                    await self.check_owner(turn.thread_id, turn.owner)  # again, under the lease
                config = _config(turn.thread_id, turn.run_id, turn.owner, observed.callbacks,
                                 turn.specialist)
                prepared = await self._turn_input(turn)
                for taken in prepared.decisions:
                    observed.decided(taken.interrupt_id, taken.agent, taken.tool,
                                     taken.tool_call_id, taken.decision, taken.reason)
                if self.approvals.enabled or prepared.resumes is not None:
                    config["configurable"][APPROVALS_KEY] = RunApprovals(
                        self.approvals, turn.run_id,
                        can_pause=turn.can_pause and not turn.stateless,
                        resumes=prepared.resumes)
                if on_token is not None:
                    def sink(text: str) -> None:
                        emitted.append(text)
                        on_token(text)

                    config["configurable"][SINK_KEY] = sink
                stream = graph.astream(
                    prepared.value,
                    config,
                    # Specialists send their tokens on themselves (agent.models.streamed_reply):
                    # no "messages" mode, so no callback handler per token.
                    stream_mode=["custom", "updates"],
                    # (a stateless turn has no checkpointer to save to)
                    durability=None if turn.stateless else self.settings.checkpoint_durability,
                )
                # Closed with this turn, whatever ends it (a caller that stops reading closes
                # the turn, which stops the graph's running steps at once).
                async with contextlib.aclosing(stream):
                    async for mode, payload in stream:
                        if mode == "custom":
                            if isinstance(payload, Token):
                                emitted.append(payload.text)
                                if on_token is None:
                                    yield payload
                                else:
                                    on_token(payload.text)
                            elif isinstance(payload, dict) and "kind" in payload:
                                yield ToolEvent(**payload)
                        elif mode == "updates":
                            final = final_message(payload) or final
                            paused = paused_turns.paused_in(payload) or paused
                observed.agent = (final.name or "") if final is not None else ""
                if paused is not None:
                    observed.agent = paused.agent
                    observed.paused(paused)
                if held is not None:
                    await self.index.touch(turn.thread_id, _key(turn.owner),
                                           turn.question or "", time.time())
        # `end` carries exactly what was streamed (with a real model that includes any text it
        # wrote beside a tool call); a node that didn't stream (unavailable) is sent whole.
        text = "".join(emitted)
        if not emitted and final is not None and final.text:
            text = final.text
            if on_token is not None:
                on_token(text)
            else:
                yield Token(text)
        if paused is not None:
            yield paused
        yield Answer(text=text, agent=observed.agent, usage=observed.usage, interrupt=paused)

    async def thread(self, thread_id: str, include_tools: bool = False,
                     owner: Owner | None = None) -> ThreadView | None:
        """A thread as its owner reads it, or None if there is no such thread (of `owner`):
        the user's questions and the final answers (with the specialist that gave each and
        the run it came from), its summary, the feedback on its answers and the call waiting
        for a person's decision, if one waits. With `include_tools`, also the tool-calling
        assistant messages and the tools' results."""
        state = await self.graph.aget_state(_config(thread_id))
        if not may_use(state.metadata, owner):
            return None
        messages = state_messages(state)
        if not messages:
            return None
        conversation = conversation_view(messages, include_tools)
        pending = paused_turns.pending_call(state)
        summary, feedback, active = await asyncio.gather(
            self.index.get(thread_id, _key(owner)),
            self.index.feedback(thread_id),
            self.runs.active(thread_id) if self.runs else _none())
        return ThreadView(thread_id, conversation, summary, feedback or {}, active, pending)

    async def _summary(self, thread_id: str, owner: Owner | None) -> ThreadSummary:
        """The thread's summary; `ThreadNotFound` if there is no such thread of `owner`."""
        saved = await self.graph.checkpointer.aget_tuple(_config(thread_id))
        if saved is None or not may_use(saved.metadata, owner):
            raise ThreadNotFound(thread_id)
        summary = await self.index.get(thread_id, _key(owner))
        if summary is None:  # a thread saved before summaries were kept
            summary = ThreadSummary(thread_id, thread_id, 0.0, 0.0)
        return summary

    async def threads(self, owner: Owner, limit: int, cursor: str | None
                      ) -> tuple[list[ThreadSummary], str | None]:
        """A page of the owner's threads, newest first (`BadCursor` for a cursor not ours)."""
        return await self.index.page(owner.key, limit, cursor)

    async def rename(self, thread_id: str, owner: Owner | None, title: str) -> ThreadSummary:
        """Set a thread's title (`ThreadNotFound` if there is no such thread of `owner`)."""
        summary = await self._summary(thread_id, owner)
        if summary.created_at == 0.0:  # no summary yet: make one
            await self.index.touch(thread_id, _key(owner), title, time.time())
        await self.index.rename(thread_id, _key(owner), title)
        return await self.index.get(thread_id, _key(owner)) or summary

    async def give_feedback(self, thread_id: str, owner: Owner | None,
                            feedback: Feedback) -> None:
        """Record a person's feedback on the answer of run `feedback.run_id`
        (`ThreadNotFound` if there is no such thread of `owner`, `AnswerNotFound` if the run
        gave no answer in it)."""
        state = await self.graph.aget_state(_config(thread_id))
        if state.created_at is None or not may_use(state.metadata, owner):
            raise ThreadNotFound(thread_id)
        answered = {m.run_id for m in conversation_view(state_messages(state), False)
                    if m.role == "assistant"}
        if feedback.run_id not in answered:
            raise AnswerNotFound(thread_id, feedback.run_id)
        await self.index.put_feedback(thread_id, feedback)
        if self.tracer is not None:
            self.tracer.record_feedback(thread_id, feedback)

    async def delete_thread(self, thread_id: str, owner: Owner | None = None) -> None:
        """Delete every checkpoint and pending write of a thread, and its summary and
        feedback: `ThreadNotFound` if there is no such thread (or it is another user's,
        checked before the lease), `ThreadBusy` while a turn runs on it."""
        config = _config(thread_id)
        saved = await self.graph.checkpointer.aget_tuple(config)
        if saved is None or not may_use(saved.metadata, owner):
            raise ThreadNotFound(thread_id)
        async with await self.claim(thread_id):
            await self.check_owner(thread_id, owner)
            await self.graph.checkpointer.adelete_thread(thread_id)
            await self.index.forget(thread_id, _key(owner))

    async def aclose(self) -> None:
        """Close the checkpointer and clients."""
        await self._stack.aclose()


# What LangChain imports lazily on a graph's first run; imported with the bot instead.
_IMPORTED_ON_FIRST_RUN = (
    "langchain_core.tracers.context",
    "langchain_core.tracers.run_collector",
    "langchain_core.tracers.stdout",
    "langchain_core.messages.block_translators.langchain_v0",
)


def _model_and_specialists(
    settings: Settings, model_closers: list[Callable[[], Awaitable[None]]]
) -> tuple[BaseChatModel, Specialists, TurnTracer | None]:
    """The imports and CPU-bound parts of building the bot (run in a worker thread)."""
    from agent.models.factory import build_chat_model
    from agent.telemetry import start as start_telemetry
    from agent.tools.registry import build_specialists

    # Imported here, off the event loop, for the steps that run on it.
    store = "agent.memory.cosmos" if settings.thread_store == "cosmos" else "agent.memory.sqlite"
    for module in ("agent.graph", "agent.memory", store, *_IMPORTED_ON_FIRST_RUN):
        importlib.import_module(module)
    specialists = build_specialists(settings)
    tracer = start_telemetry(settings, get_platform_settings())  # None: telemetry off
    return build_chat_model(settings, model_closers), specialists, tracer


async def build_bot(settings: Settings) -> Bot:
    """Build the model, the specialists' tools, the checkpointer and the graph.

    Imports and CPU-bound work (LangGraph, LangChain and the SDKs, the local docs index,
    compiling the graph) run in worker threads, so the event loop keeps serving meanwhile; only
    opening the checkpointer, whose clients belong to the loop, runs on it.
    """
    stack = AsyncExitStack()
    try:
        model_closers: list[Callable[[], Awaitable[None]]] = []
        model, specialists, tracer = await asyncio.to_thread(_model_and_specialists, settings,
                                                             model_closers)
        approvals = approval_policy(settings.approval_names, specialists.by_name)  # or ValueError
        from agent.graph import build_graph  # already imported, off the loop
        from agent.memory import open_checkpointer, open_thread_index
        from agent.models.factory import decision_options

        for close in [*specialists.closers, *model_closers]:
            stack.push_async_callback(close)
        checkpointer = await stack.enter_async_context(open_checkpointer(settings))
        index = await stack.enter_async_context(open_thread_index(settings, checkpointer))
        options = decision_options(settings)
        graph = await asyncio.to_thread(partial(
            build_graph, model, specialists.by_name, checkpointer, settings.tool_preview_chars,
            decision_options=options))
        # The same compiled graph without its checkpointer (compiled once).
        stateless = graph.copy(update={"checkpointer": None})
    except BaseException:
        await stack.aclose()
        raise
    enabled = {name for name, s in specialists.by_name.items() if s.enabled}
    return Bot(settings, graph, enabled, stack, tracer, stateless, index, approvals)
