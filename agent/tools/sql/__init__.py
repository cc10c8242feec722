"""sqlsearch's database layer: read-only SQL on any SQLAlchemy URL, contained twice over.

- `guard`: the parser's check, before anything runs (exactly one SELECT calling only
  allow-listed functions);
- `engine`: the engine opened read-only, with each backend's session limits;
- `sqlite_containment`: what SQLite itself lets our connections do (authorizer, limits,
  read-only files, the time limit);
- `lane`: where queries run: threads of their own, at most `SQL_MAX_CONCURRENT_QUERIES` at a
  time, so slow queries never hold the threads other tools use;
- `rows`: a result's rows, bounded and made JSON;
- `database`: `SqlDatabase`, one database for the process: runs checked statements and
  describes its tables.

The tools over it are in `agent/tools/sqlsearch.py`.
"""
