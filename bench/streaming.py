"""Items 1-3: CPU per turn and per token flat out, concurrency, and `/batch`, for one server.

Each `*_sample` function drives a running server (`Proc`) through the load generator process
for one round and returns raw figures; the runner interleaves the servers round by round (so
a burst of load from elsewhere on the machine falls on all of them alike) and the `*_summary`
functions turn every round's figures into one JSON-ready dict. The model server's pacing is
set before each measurement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

from bench.config import QUESTION, Size
from bench.processes import ROOT, Proc
from bench.stats import ms, percentile


def set_pacing(model: Proc, ttft: float, rate: float, tokens: int) -> None:
    """Tell the model server how to pace its next replies."""
    body = {"ttft": ttft, "tokens_per_second": rate, "answer_tokens": tokens}
    httpx.post(model.url + "/_bench/pacing", json=body, timeout=10).raise_for_status()


def load(server: Proc, concurrency: int, seconds: float, max_requests: int,
         question: str = QUESTION, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the load generator process against `server`'s `/stream` (`body`: more fields of
    each request's body)."""
    spec = {"url": server.url + "/stream", "concurrency": concurrency, "seconds": seconds,
            "max_requests": max_requests, "question": question, "body": body or {}}
    done = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(spec),
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          timeout=seconds + 180)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def warm_up(server: Proc, size: Size) -> None:
    """First requests build the docs index, the model client and so on, then a burst at the
    first level fills the connection and thread pools: not measured."""
    load(server, 1, 60.0, size.warmup_streams)
    load(server, size.levels[0], 60.0, size.levels[0])


def flat_sample(server: Proc, model: Proc, size: Size) -> dict[str, Any]:
    """One round of item 1 on one server, the model flat out (no delay): `short_turns` turns
    whose answer is one token (the fixed CPU of a turn: two model calls, the tool round, the
    search, the checkpoint, the HTTP request), then `flat_streams` answers of `flat_tokens`
    tokens (the CPU per token and the fastest rate). Raw figures; `flat_summary` sums rounds."""
    set_pacing(model, 0.0, 0.0, 0)  # "Answer:" alone: one token
    cpu0 = server.cpu_seconds()
    short = load(server, 1, 600.0, size.short_turns)["results"]
    short_cpu = server.cpu_seconds() - cpu0
    set_pacing(model, 0.0, 0.0, size.flat_tokens)
    cpu0, model0 = server.cpu_seconds(), model.cpu_seconds()
    out = load(server, 1, 600.0, size.flat_streams)
    return {"short": short, "short_cpu": short_cpu, "flat": out["results"],
            "flat_cpu": server.cpu_seconds() - cpu0,
            "flat_model_cpu": model.cpu_seconds() - model0, "flat_wall": out["wall"]}


def flat_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Item 1 over every round: CPU per turn (fixed), per token (overall and marginal), the
    fastest stream."""
    short = [r for s in samples for r in s["short"]]
    flat = [r for s in samples for r in s["flat"]]
    cpu = sum(s["flat_cpu"] for s in samples)
    fixed = sum(s["short_cpu"] for s in samples) / len(short) if short else None
    tokens = sum(r["tokens"] for r in flat)
    rates = [r["tokens"] / r["first_to_last"] for r in flat if r["first_to_last"] > 0]
    marginal = None
    if fixed is not None and flat and tokens > len(flat):
        marginal = (cpu / len(flat) - fixed) / (tokens / len(flat) - 1)
    return {
        "rounds": len(samples), "streams": len(flat), "tokens": tokens,
        "fixed_cpu_ms_by_round": [round(s["short_cpu"] / len(s["short"]) * 1e3, 1)
                                  for s in samples if s["short"]],
        "errors": sum(1 for r in flat + short if not r["ok"]),
        "cpu_us_per_token": round(cpu / tokens * 1e6, 1) if tokens else None,
        "model_cpu_us_per_token": (round(sum(s["flat_model_cpu"] for s in samples) / tokens
                                         * 1e6, 1) if tokens else None),
        "max_tokens_per_second": round(max(rates), 1) if rates else None,
        "wall_seconds": round(sum(s["flat_wall"] for s in samples), 2),
        "short_turns": len(short),
        "fixed_cpu_ms_per_turn": None if fixed is None else round(fixed * 1e3, 1),
        "marginal_cpu_us_per_token": None if marginal is None else round(marginal * 1e6, 1),
    }


def level_sample(server: Proc, model: Proc, size: Size, level: int) -> dict[str, Any]:
    """One round of item 2 on one server: `level` simultaneous streams at the paced rate for
    `level_seconds` (at most `level_rounds` requests per stream). Raw figures."""
    set_pacing(model, size.ttft, size.tokens_per_second, size.answer_tokens)
    server.reset_peak_rss()
    cpu0 = server.cpu_seconds()
    out = load(server, level, size.level_seconds, level * size.level_rounds)
    return {"cpu": server.cpu_seconds() - cpu0, "results": out["results"], "wall": out["wall"],
            "peak_rss_mb": server.peak_rss_mb()}


def loaded_turn_sample(server: Proc, model: Proc, size: Size) -> dict[str, Any]:
    """One round of the fixed CPU of a turn under load: `levels[0]` simultaneous streams whose
    answer is one token, the model paced (its time to first token still applies)."""
    set_pacing(model, size.ttft, size.tokens_per_second, 0)
    level = size.levels[0]
    cpu0 = server.cpu_seconds()
    out = load(server, level, size.level_seconds / 2, level * 2)
    return {"cpu": server.cpu_seconds() - cpu0, "results": out["results"]}


def loaded_turn_summary(samples: list[dict[str, Any]], size: Size) -> dict[str, Any]:
    """CPU per one-token turn at `levels[0]` streams, over every round."""
    turns = [r for s in samples for r in s["results"]]
    cpu = sum(s["cpu"] for s in samples)
    return {"concurrency": size.levels[0], "turns": len(turns),
            "errors": sum(1 for r in turns if not r["ok"]),
            "cpu_ms_per_turn": round(cpu / len(turns) * 1e3, 1) if turns else None}


def level_summary(samples: list[dict[str, Any]], size: Size, level: int) -> dict[str, Any]:
    """Item 2 at one level over every round: CPU per token, added TTFT, gaps, errors, memory."""
    results = [r for s in samples for r in s["results"]]
    cpu = sum(s["cpu"] for s in samples)
    wall = sum(s["wall"] for s in samples)
    model_ttft = 2 * size.ttft  # the tool-call reply, then the answer: two first tokens
    added = [r["ttft"] - model_ttft for r in results if r["ttft"] is not None]
    gaps = [g for r in results for g in r["gaps"]]
    tokens = sum(r["tokens"] for r in results)
    return {
        "concurrency": level, "rounds": len(samples), "requests": len(results),
        "errors": sum(1 for r in results if not r["ok"]),
        "added_ttft_p50_ms": ms(percentile(added, 50)),
        "added_ttft_p99_ms": ms(percentile(added, 99)),
        "gap_p99_ms": ms(percentile(gaps, 99)),
        "peak_rss_mb": round(max(s["peak_rss_mb"] for s in samples), 1),
        "tokens_per_second": round(tokens / wall, 1) if wall else None,
        "cpu_us_per_token": round(cpu / tokens * 1e6, 1) if tokens else None,
        "cpu_us_per_token_by_round": [
            round(s["cpu"] / n * 1e6, 1) if (n := sum(r["tokens"] for r in s["results"]))
            else None for s in samples],
        "wall_seconds": round(wall, 2),
    }


def batch(server: Proc, model: Proc, size: Size) -> dict[str, Any]:
    """Item 3: `/batch` of `batch_questions` questions, no thread; wall time (best of repeats)."""
    set_pacing(model, size.ttft, size.tokens_per_second, size.answer_tokens)
    questions = [f"{QUESTION} ({n} {uuid.uuid4().hex[:6]})" for n in range(size.batch_questions)]
    walls: list[float] = []
    answers = 0
    for _ in range(size.batch_repeats):
        start = time.perf_counter()
        response = httpx.post(server.url + "/batch", json={"questions": questions}, timeout=600)
        walls.append(time.perf_counter() - start)
        response.raise_for_status()
        answers = len(response.json()["answers"])
    return {"questions": len(questions), "answers": answers, "wall_seconds": round(min(walls), 3)}
