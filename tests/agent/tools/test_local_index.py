"""The embedded FTS5 index: passages by heading, BM25 ranking, incremental refresh."""

from __future__ import annotations

from pathlib import Path

from agent.tools.local_index import LocalIndex, split_passages


def test_passages_follow_headings_and_skip_code_fences() -> None:
    text = ("intro text\n\n# Setup\n\nrun it\n\n```\n# not a heading\n```\n\n"
            "## Deploy Now!\n\nazd up")
    passages = list(split_passages(text, "guide"))
    assert [(p.title, p.anchor) for p in passages] == [
        ("guide", ""), ("Setup", "setup"), ("Deploy Now!", "deploy-now")]
    assert "# not a heading" in passages[1].body


def test_search_ranks_and_refresh_tracks_changes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Cosmos\n\nThreads live in Cosmos DB containers.")
    (docs / "b.txt").write_text("Streaming uses server-sent events.")
    (docs / "skip.png").write_bytes(b"\x89PNG")
    index = LocalIndex(docs, tmp_path / "index.sqlite")
    assert index.refresh() == 2
    assert index.refresh() == 0  # nothing changed
    hit = index.search("where do threads live?", 3)[0]
    assert hit.source == "docs/a.md#cosmos" and "Cosmos DB" in hit.content
    (docs / "a.md").unlink()
    (docs / "c.md").write_text("Threads are deleted with DELETE /threads/{id}.")
    assert index.refresh() == 2
    assert [r.source for r in index.search("threads", 5)] == ["docs/c.md"]
    assert index.search("?!", 5) == []
