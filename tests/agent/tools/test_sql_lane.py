"""SQL in its own lane: slow queries never hold the threads other tools use, at most
SQL_MAX_CONCURRENT_QUERIES run at once, and a query waits for a slot at most the time limit.

The heavy query is a guarded SELECT on the embedded sample (a self-join of 20,780 rows: 430
million pairs) that runs until SQL_TIMEOUT_SECONDS stops it. Before the lane, queries ran on
the event loop's default thread pool: eight of them held it, and a docsearch call waited until
a query was stopped (the whole time limit).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import ToolException
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine

from agent.settings import Settings
from agent.tools import docsearch, sqlsearch
from agent.tools.covid_db import ensure_covid_db
from agent.tools.sql.database import SqlDatabase
from agent.tools.sql.lane import LaneBusy, QueryLane
from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sse import by_type, stream

HEAVY = "SELECT COUNT(*) AS pairs FROM covid_daily AS a, covid_daily AS b WHERE a.death > b.death"
HEAVY_MARK = "a.death > b.death"
LIMIT_SECONDS = 2.0  # the heavy queries' time limit here: what a call stuck behind them waits


@pytest.fixture(scope="module")
def covid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    ensure_covid_db(data_dir)
    return data_dir


class Running:
    """Heavy statements executing now, on any engine of this process (SQLAlchemy events)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def started(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if HEAVY_MARK in statement:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.threads.add(threading.current_thread().name)

    def ended(self, context: Any) -> None:
        statement = getattr(context, "statement", None) or ""
        if HEAVY_MARK in statement:
            with self._lock:
                self.now -= 1


@contextmanager
def watching() -> Iterator[Running]:
    running = Running()

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any,
              _many: bool) -> None:
        running.ended(context)

    def failed(context: Any) -> None:
        running.ended(context.execution_context)

    event.listen(Engine, "before_cursor_execute", running.started)
    event.listen(Engine, "after_cursor_execute", after)
    event.listen(Engine, "handle_error", failed)
    try:
        yield running
    finally:
        event.remove(Engine, "before_cursor_execute", running.started)
        event.remove(Engine, "after_cursor_execute", after)
        event.remove(Engine, "handle_error", failed)


async def _until(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)  # polling the condition, not waiting for an outcome


async def test_docsearch_answers_within_a_second_while_eight_heavy_queries_run(
        covid_dir: Path) -> None:
    settings = Settings(data_dir=covid_dir, docs_dir=CORPUS, sql_timeout_seconds=LIMIT_SECONDS)
    sql = sqlsearch.build_tools(settings)
    [search] = docsearch.build_tools(settings).tools
    [query] = [t for t in sql.tools if t.name == "sql_query"]
    await query.ainvoke({"query": "SELECT 1"})  # the engine exists before the clock starts
    cap = settings.sql_max_concurrent_queries
    with watching() as running:
        heavy = [asyncio.create_task(query.ainvoke({"query": HEAVY})) for _ in range(8)]
        try:
            await _until(lambda: running.now >= min(cap, 8))
            started = time.monotonic()
            found = json.loads(await search.ainvoke({"query": "Joey clothes"}))
            took = time.monotonic() - started
            assert running.now == cap, "the heavy queries were still running"
        finally:
            outcomes = await asyncio.gather(*heavy, return_exceptions=True)
            for close in sql.closers:
                await close()
    assert found["results"] and took < 1.0, f"docsearch took {took:.2f} s"
    assert running.most == cap  # never more at once than the setting
    assert running.threads and all(n.startswith("sql-query") for n in running.threads)
    for outcome in outcomes:  # stopped at the limit, or no slot within the limit
        assert isinstance(outcome, ToolException), outcome
        assert "interrupted" in str(outcome) or "busy" in str(outcome), outcome


async def test_a_query_waits_for_a_slot_at_most_the_time_limit(covid_dir: Path) -> None:
    db = SqlDatabase("", data_dir=covid_dir, max_rows=5, timeout_seconds=0.3, max_concurrent=1)
    [query] = [t for t in sqlsearch.make_tools(db) if t.name == "sql_query"]
    release = threading.Event()

    def hold(conn: Connection) -> None:  # the one slot, until the test lets go
        release.wait(30)

    holder = asyncio.create_task(db.run(hold))
    try:
        await _until(lambda: db.lane.running == 1)
        started = time.monotonic()
        with pytest.raises(ToolException, match=r"The database is busy: 1 queries were running "
                                                r"and none finished within 0\.3 s"):
            await query.ainvoke({"query": "SELECT COUNT(*) FROM covid_daily"})
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        release.set()
        await holder
    out = json.loads(await query.ainvoke({"query": "SELECT COUNT(*) FROM covid_daily"}))
    assert out["rows"] == [[20780]]
    await db.aclose()


async def test_a_slot_is_held_until_the_statement_ends_even_if_its_caller_left() -> None:
    lane = QueryLane(1)
    release = threading.Event()
    left = asyncio.create_task(lane.run_in_thread(lambda: release.wait(30), 30))
    try:
        await _until(lambda: lane.running == 1)
        left.cancel()  # the turn was cancelled; the statement still runs in its thread
        with pytest.raises(asyncio.CancelledError):
            await left
        assert lane.running == 1
        with pytest.raises(LaneBusy):
            await lane.run_in_thread(lambda: "second", 0.2)
        release.set()
        assert await lane.run_in_thread(lambda: "second", 30) == "second"
        assert lane.running == 0
    finally:
        release.set()
        lane.close()


# --- a whole docsearch turn through the dev server ---------------------------------------------
def _call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with fake_openai() as (model, base_url), live_server(
        tmp_path_factory.mktemp("sql-lane"),
        {"MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": base_url,
         "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat", "AZURE_OPENAI_API_KEY": "k",
         "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS),
         "SQL_TIMEOUT_SECONDS": str(LIMIT_SECONDS)},
    ) as server:
        yield model, server


def test_a_docsearch_turn_is_not_slowed_by_eight_heavy_sql_turns(
        azure: tuple[FakeOpenAI, LiveServer]) -> None:
    model, server = azure
    model.script.clear()
    stream(f"{server.url}/stream", {"user_input": "@sqlsearch warm up"})  # builds the bot
    first = len(model.outcomes)
    model.add(*[Turn(tool_calls=[_call("call_heavy", "sql_query", query=HEAVY)])
                for _ in range(8)])
    with ThreadPoolExecutor(8) as pool:
        heavy = [pool.submit(stream, f"{server.url}/stream",
                             {"user_input": "@sqlsearch how many pairs?"}) for _ in range(8)]
        deadline = time.monotonic() + 30
        while sum(o.completed for o in model.outcomes[first:]) < 8:  # all heavy calls sent
            assert time.monotonic() < deadline and not any(f.done() for f in heavy)
            time.sleep(0.005)  # polling the model stand-in's record
        model.add(Turn(tool_calls=[_call("call_doc", "search_documents", query="Joey clothes")]),
                  Turn(chunks=["Joey wears Chandler's clothes [[1]](corpus/friends.md)."]))
        started = time.monotonic()
        _, events = stream(f"{server.url}/stream", {"user_input": "@docsearch what does Joey "
                                                                  "wear?"})
        took = time.monotonic() - started
        ends = [f.result()[1] for f in heavy]
    assert took < 1.0, f"the docsearch turn took {took:.2f} s"
    assert events[-1].event == "end" and "Chandler" in events[-1].data
    assert by_type(events, "on_tool_end")[0].json()["status"] == "success"
    for sql_events in ends:  # each heavy turn got its tool error and still ended
        end = by_type(sql_events, "on_tool_end")[0].json()
        assert end["status"] == "error", end
        assert sql_events[-1].event == "end"
