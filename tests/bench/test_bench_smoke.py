"""The bench runs end to end at tiny size and writes well-formed results (no timing asserted):
the whole bench (`bench.runner`), and item 7, resumable streams (`bench.resume`)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import resume
from bench.config import RESUME_TINY, TINY
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


def test_tiny_resume_bench_measures_the_run_log_on_both_stores(tmp_path: Path) -> None:
    data = resume.run(RESUME_TINY, tmp_path, log=lambda _: None)

    assert json.loads((tmp_path / "resume.json").read_text()) == json.loads(json.dumps(data))
    for store in RESUME_TINY.stores:
        answers = data[store]["writes"]
        assert [(a["tokens"], a["tokens_per_second"]) for a in answers] == list(
            RESUME_TINY.answers)
        for a in answers:
            assert a["errors"] == 0 and a["log_failed_writes"] == 0
            assert a["streamed_tokens_per_turn"] == a["tokens"]
            # Log on: the first event at once and the last at once, at least; every event of
            # the turn (metadata, two tool events, the tokens, end) stored.
            assert a["log_writes_min"] >= 2
            assert a["log_events_per_turn"] == a["tokens"] + 4
            assert a["log_writes_while_off"] == 0  # the switch really switches it off
        if store == "sqlite":
            assert all(a["commits_per_turn_log"] == a["log_writes_per_turn"]
                       and a["wal_bytes_per_turn_log"] > 0 for a in answers)
        else:  # one transactional batch per write, request bodies at least the rows' bytes
            assert all(a["write_requests_per_turn_log"] == a["log_writes_per_turn"]
                       and a["bytes_written_per_turn_log"] > 0 for a in answers)
        for joined in data[store]["joined"]:
            assert joined["all_events_once_in_order"] and joined["all_ended"]
            assert joined["events_timed"] > 0 and joined["added_p50_ms"] is not None
        cpu = data[store]["cpu"]
        expected = RESUME_TINY.cpu_streams * RESUME_TINY.cpu_requests * RESUME_TINY.cpu_rounds
        assert cpu["errors"] == 0
        assert cpu["requests_on"] == cpu["requests_off"] == expected
        assert cpu["cpu_us_per_token_on"] is not None and "flat_out" in cpu
    table = (tmp_path / "resume.md").read_text()
    assert "| answer | log transactions per turn (min–max) |" in table
    assert "| answer | log writes per turn (min–max) |" in table
    assert "| sqlite | 10 tokens, 100 tokens/s | 1 |" in table
    assert "| cosmos | 2 × 5 tokens |" in table
