"""The embedded sample database: COVID Tracking Project daily state history as SQLite.

Built once from the shipped `agent/data/covid-tracking/all-states-history.csv.gz` (CC BY 4.0,
The COVID Tracking Project at The Atlantic) into `<data_dir>/covid.sqlite`. The build writes a
temporary file in the same directory and renames it into place, so concurrent builders and
crashes never leave a half-written database; a finished database is recognised by its
`user_version` and reused. Table and column descriptions for the model live here too.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import sqlite3
import tempfile
from pathlib import Path

CSV_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "covid-tracking" / "all-states-history.csv.gz"
)
DB_FILENAME = "covid.sqlite"
TABLE = "covid_daily"
SOURCE_URL = "https://covidtracking.com/data"
ATTRIBUTION = (
    "The COVID Tracking Project at The Atlantic (https://covidtracking.com/data), "
    "licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
)
# Bump when the table layout changes, so an old database file is rebuilt.
SCHEMA_VERSION = 1

TABLE_DESCRIPTION = (
    "One row per US state or territory per day, 2020-01-13 to 2021-03-07 (56 jurisdictions: "
    "50 states, DC, AS, GU, MP, PR, VI). Columns without 'Increase' in the name are CUMULATIVE "
    "running totals as of that date; columns ending in 'Increase' are the change from the "
    "previous day (daily new counts; can be negative after corrections). NULL means the state "
    "did not report that figure that day. For a total over a period use the cumulative value on "
    "the last date (or MAX, as it only grows), e.g. deaths in 2020 per state = MAX(death) WHERE "
    "date <= '2020-12-31', or SUM(deathIncrease) over the period. Source: " + ATTRIBUTION + "."
)

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "date": "Day of the report, ISO text 'YYYY-MM-DD' (compare as text: date < '2021-01-01').",
    "state": "Two-letter USPS code of the state or territory, e.g. 'NY', 'CA', 'TX', 'DC', 'PR'.",
    "death": "CUMULATIVE deaths (confirmed + probable) up to and including this date.",
    "deathConfirmed": "CUMULATIVE deaths with confirmed COVID-19.",
    "deathIncrease": "New deaths reported this day (daily change of `death`).",
    "deathProbable": "CUMULATIVE probable COVID-19 deaths.",
    "hospitalized": "CUMULATIVE people ever hospitalized (same as hospitalizedCumulative).",
    "hospitalizedCumulative": "CUMULATIVE people ever hospitalized.",
    "hospitalizedCurrently": "People in hospital with COVID-19 on this day (not cumulative).",
    "hospitalizedIncrease": "New hospitalizations reported this day.",
    "inIcuCumulative": "CUMULATIVE people ever in intensive care.",
    "inIcuCurrently": "People in intensive care on this day (not cumulative).",
    "negative": "CUMULATIVE negative test results (people or tests, as the state reports).",
    "negativeIncrease": "New negative results this day.",
    "onVentilatorCumulative": "CUMULATIVE people ever on a ventilator.",
    "onVentilatorCurrently": "People on a ventilator on this day (not cumulative).",
    "positive": "CUMULATIVE cases (confirmed + probable).",
    "positiveCasesViral": "CUMULATIVE cases confirmed by a viral (PCR) test.",
    "positiveIncrease": "New cases reported this day (daily change of `positive`).",
    "recovered": "CUMULATIVE recovered, where reported.",
    "totalTestResults": "CUMULATIVE test results (the Project's preferred total tests).",
    "totalTestResultsIncrease": "New test results this day.",
}

_TEXT_COLUMNS = ("date", "state")


def ensure_covid_db(data_dir: Path, csv_path: Path = CSV_PATH) -> Path:
    """Return the sample database's path, building it first if it is missing or outdated."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / DB_FILENAME
    if _is_current(db_path):
        return db_path
    fd, tmp_name = tempfile.mkstemp(prefix=".covid-", suffix=".sqlite.tmp", dir=data_dir)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        _build(tmp_path, csv_path)
        os.replace(tmp_path, db_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    return db_path


def _is_current(db_path: Path) -> bool:
    if not db_path.is_file():
        return False
    try:
        with contextlib.closing(
            sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        ) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    return bool(version == SCHEMA_VERSION)


def _build(path: Path, csv_path: Path) -> None:
    with gzip.open(csv_path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        text_idx = {i for i, name in enumerate(header) if name in _TEXT_COLUMNS}
        rows = [
            tuple(
                value if i in text_idx else (int(value) if value != "" else None)
                for i, value in enumerate(row)
            )
            for row in reader
        ]
    columns = ", ".join(
        f'"{name}" TEXT NOT NULL' if name in _TEXT_COLUMNS else f'"{name}" INTEGER'
        for name in header
    )
    placeholders = ", ".join("?" for _ in header)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE TABLE {TABLE} ({columns}, PRIMARY KEY (date, state))")
        conn.executemany(f"INSERT INTO {TABLE} VALUES ({placeholders})", rows)
        conn.execute(f"CREATE INDEX ix_{TABLE}_state_date ON {TABLE} (state, date)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.commit()
