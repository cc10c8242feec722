"""The specialists built from the settings, and the closers of what their tools hold."""

from __future__ import annotations

import json
from pathlib import Path

from agent.settings import Settings
from agent.specialists import SPECIALIST_NAMES
from agent.tools.registry import build_specialists
from agent.tools.sql.guard import check_select
from tests.conftest import CORPUS


async def test_every_specialist_is_built_and_what_it_holds_is_closed(tmp_path: Path) -> None:
    specialists = build_specialists(Settings(data_dir=tmp_path, docs_dir=CORPUS))
    assert tuple(specialists.by_name) == SPECIALIST_NAMES
    enabled = {name for name, s in specialists.by_name.items() if s.enabled}
    assert enabled == {"docsearch", "sqlsearch", "chat"}  # nothing else is configured
    sql_query = next(t for t in specialists.by_name["sqlsearch"].tools if t.name == "sql_query")
    out = json.loads(await sql_query.ainvoke({"query": "SELECT COUNT(*) FROM covid_daily"}))
    assert out["sql"] == check_select("SELECT COUNT(*) FROM covid_daily").sql
    # The only thing held for the process is the SQL engine: one closer, which disposes of it.
    [close] = specialists.closers
    database = close.__self__  # type: ignore[attr-defined]
    assert database._engine is not None
    await close()
    assert database._engine is None
