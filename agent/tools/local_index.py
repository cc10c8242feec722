"""The embedded document index: SQLite FTS5 (BM25) over a folder of Markdown and text files.

The index is a file in the data folder. `refresh()` brings it up to date with the folder
(new, changed and deleted files, by size and modification time), so start-up after the first
run only reads what changed. Documents are split into passages at Markdown headings and
blank-line paragraphs, so a hit cites the section it came from.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.text import WORD, content_words
from agent.tools.results import SearchResult

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst"})
MAX_PASSAGE_CHARS = 1500
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    path UNINDEXED, anchor UNINDEXED, title, body, tokenize = 'porter unicode61'
);
"""


@dataclass(frozen=True)
class Passage:
    """One searchable section of a document."""

    title: str
    anchor: str
    body: str


def slugify(text: str) -> str:
    """The GitHub-style anchor of a heading."""
    return "-".join(WORD.findall(text.lower()))


def split_passages(text: str, doc_title: str) -> Iterator[Passage]:
    """Split a document at headings, then long sections at paragraph breaks."""
    title, anchor = doc_title, ""
    lines: list[str] = []
    sections: list[tuple[str, str, str]] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            sections.append((title, anchor, "\n".join(lines)))
            title, anchor, lines = match.group(2), slugify(match.group(2)), []
        else:
            lines.append(line)
    sections.append((title, anchor, "\n".join(lines)))
    for sec_title, sec_anchor, body in sections:
        chunk: list[str] = []
        size = 0
        for para in re.split(r"\n\s*\n", body):
            para = para.strip()
            if not para:
                continue
            if chunk and size + len(para) > MAX_PASSAGE_CHARS:
                yield Passage(sec_title, sec_anchor, "\n\n".join(chunk))
                chunk, size = [], 0
            chunk.append(para[: MAX_PASSAGE_CHARS * 2])
            size += len(para)
        if chunk:
            yield Passage(sec_title, sec_anchor, "\n\n".join(chunk))


def fts_query(question: str) -> str:
    """An FTS5 query matching any of the question's words (BM25 ranks the best first)."""
    words = content_words(question)
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


class LocalIndex:
    """A BM25 full-text index of one folder, stored in one SQLite file."""

    def __init__(self, folder: Path, db_path: Path) -> None:
        self.folder = folder
        self.db_path = db_path

    def _connect(self) -> sqlite3.Connection:
        """A read-write connection with the schema in place (used by `refresh`)."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path)
        conn.executescript(SCHEMA)
        return conn

    def refresh(self) -> int:
        """Index new and changed files, drop deleted ones; returns how many files changed."""
        on_disk = {
            p.relative_to(self.folder).as_posix(): p
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and p.suffix.lower() in SUFFIXES
        } if self.folder.is_dir() else {}
        changed = 0
        with self._connect() as conn:
            known = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT * FROM files")}
            for rel in known.keys() - on_disk.keys():
                conn.execute("DELETE FROM passages WHERE path = ?", (rel,))
                conn.execute("DELETE FROM files WHERE path = ?", (rel,))
                changed += 1
            for rel, path in on_disk.items():
                stat = path.stat()
                if known.get(rel) == (stat.st_size, stat.st_mtime_ns):
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
                conn.execute("DELETE FROM passages WHERE path = ?", (rel,))
                conn.executemany(
                    "INSERT INTO passages (path, anchor, title, body) VALUES (?, ?, ?, ?)",
                    [(rel, p.anchor, p.title, p.body) for p in split_passages(text, path.stem)],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?)",
                    (rel, stat.st_size, stat.st_mtime_ns),
                )
                changed += 1
        conn.close()
        return changed

    def search(self, question: str, top_k: int) -> list[SearchResult]:
        """The best `top_k` passages for the question, by BM25 (title weighted higher).
        The index must have been built by `refresh()`."""
        query = fts_query(question)
        if not query:
            return []
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)  # after refresh()
        try:
            rows = conn.execute(
                "SELECT path, anchor, title, body FROM passages WHERE passages MATCH ? "
                "ORDER BY bm25(passages, 0, 0, 4.0, 1.0) LIMIT ?",
                (query, top_k),
            ).fetchall()
        finally:
            conn.close()
        return [
            SearchResult(
                title=title,
                source=f"{self.folder.name}/{path}" + (f"#{anchor}" if anchor else ""),
                content=body,
            )
            for path, anchor, title, body in rows
        ]
