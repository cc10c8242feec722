"""The bench runs end to end at tiny size and writes well-formed results (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.config import TINY
from bench.runner import KINDS, run


def test_tiny_bench_writes_every_result(tmp_path: Path) -> None:
    data = run(TINY, tmp_path, log=lambda _: None)

    written = json.loads((tmp_path / "latest.json").read_text())
    assert written == json.loads(json.dumps(data))
    for kind in KINDS:  # ours, the seed-design baseline and the floor, each in every round
        flat = written[kind]["flat_out"]
        assert flat["errors"] == 0
        assert flat["tokens"] == TINY.rounds * TINY.flat_streams * (TINY.flat_tokens + 1)
        assert flat["short_turns"] == TINY.rounds * TINY.short_turns
        assert flat["fixed_cpu_ms_per_turn"] is not None
        loaded = written[kind]["loaded_turn"]
        assert loaded["errors"] == 0 and loaded["turns"] > 0
        levels = [row["concurrency"] for row in written[kind]["concurrency"]]
        assert levels == list(TINY.levels)
        assert all(row["errors"] == 0 and row["requests"] > 0 and row["rounds"] == TINY.rounds
                   for row in written[kind]["concurrency"])
    for kind in ("ours", "baseline"):
        assert written[kind]["batch"]["answers"] == TINY.batch_questions
    # Item 6: every question at every number of streams, on both; ours decides in its first
    # call (routed 2 calls, greeting 1), the seed design routes first (3 and 2).
    calls = {kind: {(r["kind"], r["streams"]): r["calls_per_turn"]
                    for r in written["first_token"][kind]} for kind in ("ours", "baseline")}
    for streams in TINY.first_token_streams:
        assert [calls["ours"][(q, streams)] for q in ("routed", "mention", "greeting")] == [
            2, 2, 1]
        assert [calls["baseline"][(q, streams)] for q in ("routed", "mention", "greeting")] == [
            3, 2, 2]
    for kind in ("ours", "baseline"):
        for row in written["first_token"][kind]:
            assert row["errors"] == 0 and row["ttft_p50_ms"] is not None
    assert "| routed | 1 | 2.0 / 3.0 |" in (tmp_path / "latest.md").read_text()
    assert set(written["cold_start"]) == {
        "import_function_app_ms", "import_baseline_ms",
        "ours_start_to_first_token_ms", "baseline_start_to_first_token_ms",
        "health_during_build_max_ms", "health_during_build_p50_ms", "health_during_build_polls"}
    assert written["cold_start"]["health_during_build_polls"] > 0
    for store in ("sqlite", "cosmos"):
        growth = written["thread_memory"][store]
        assert growth["turns"] == TINY.thread_turns
        assert set(growth["at"]) == {"1", str(TINY.thread_turns)}
        for row in growth["at"].values():
            assert row["bytes_written"] > 0 and row["requests"] > 0 and row["store_bytes"] > 0
        assert growth["at"]["3"]["messages"] == 12 and growth["at"]["3"]["bytes_read"] > 0
    assert set(written["thread_memory"]["cosmos_requests"]) == {"exit", "per_step"}
    table = (tmp_path / "latest.md").read_text()
    assert "| Store | Turn | Messages | Store KB | KB written | KB read |" in table
    assert ("| streams | ours µs CPU/token | seed-design baseline | ours / baseline | floor | "
            "ours / floor |") in table
    for level in TINY.levels:
        assert f"\n| {level} | " in table
    assert "fixed CPU per turn" in table
    assert written["machine"]["date"] in table
    assert (tmp_path / "ttft_vs_concurrency.png").read_bytes().startswith(b"\x89PNG")
