"""The embedded COVID sample database: built once, atomically, with a typed table."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from agent.tools import covid_db


def _connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


def test_builds_a_typed_indexed_table_from_the_shipped_csv(tmp_path: Path) -> None:
    path = covid_db.ensure_covid_db(tmp_path)
    assert path == tmp_path / "covid.sqlite"
    with _connect(path) as conn:
        columns = conn.execute("PRAGMA table_info(covid_daily)").fetchall()
        assert len(columns) == 41
        types = {c[1]: c[2] for c in columns}
        assert types["date"] == "TEXT" and types["state"] == "TEXT"
        assert types["death"] == "INTEGER" and types["deathIncrease"] == "INTEGER"
        assert conn.execute("SELECT COUNT(*) FROM covid_daily").fetchone()[0] == 20780
        assert conn.execute(
            "SELECT COUNT(DISTINCT state), MIN(date), MAX(date) FROM covid_daily"
        ).fetchone() == (56, "2020-01-13", "2021-03-07")
        assert conn.execute(
            "SELECT death, deathIncrease FROM covid_daily "
            "WHERE date = '2021-03-07' AND state = 'AK'"
        ).fetchone() == (305, 0)
        # Empty CSV cells are NULL, not 0 or ''.
        assert conn.execute(
            "SELECT typeof(deathConfirmed) FROM covid_daily WHERE date = '2021-03-07' "
            "AND state = 'AK'"
        ).fetchone() == ("null",)
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(covid_daily)")}
        assert "ix_covid_daily_state_date" in indexes
        assert any(name.startswith("sqlite_autoindex") for name in indexes)  # (date, state) PK


def test_reuses_a_current_database_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = covid_db.ensure_covid_db(tmp_path)
    inode = path.stat().st_ino
    assert covid_db.ensure_covid_db(tmp_path) == path
    assert path.stat().st_ino == inode  # not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == ["covid.sqlite"]


def test_rebuilds_an_outdated_or_corrupt_database(tmp_path: Path) -> None:
    path = tmp_path / "covid.sqlite"
    path.write_bytes(b"not a database")
    covid_db.ensure_covid_db(tmp_path)
    with _connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == covid_db.SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM covid_daily").fetchone()[0] == 20780


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    bad_csv = tmp_path / "bad.csv.gz"
    bad_csv.write_bytes(b"not gzip")
    data_dir = tmp_path / "data"
    with pytest.raises(OSError):
        covid_db.ensure_covid_db(data_dir, csv_path=bad_csv)
    assert list(data_dir.iterdir()) == []


def test_ships_the_cc_by_attribution_with_the_data() -> None:
    readme = (covid_db.CSV_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "The COVID Tracking Project" in readme
    assert "CC BY 4.0" in covid_db.TABLE_DESCRIPTION
