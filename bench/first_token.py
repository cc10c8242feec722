"""Item 6: time to the first answer token, and model calls per turn, by kind of question.

The model answers every call after a fixed latency (`first_token_ttft`, a reasoning
deployment's time to first token), then at `tokens_per_second`. Three questions, each on a new
thread per turn: a *routed* one (no @mention: ours decides and calls the tool in one call, then
answers; the seed design routes, then the specialist calls its tool, then answers), an
*@mention* (both: the specialist's tool call, then the answer) and a *greeting* (ours answers in
its first call; the seed design routes to chat, which answers). Each runs at 1 and at 25
simultaneous streams, on ours and on the seed-design baseline in turn. The model server counts
the chat-completions requests, so calls per turn is requests over turns.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.config import Size
from bench.processes import Proc
from bench.stats import ms, percentile
from bench.streaming import load, set_pacing

QUESTIONS = {
    "routed": "How far away is the Moon?",
    "mention": "@docsearch How far away is the Moon?",
    "greeting": "Hello there!",
}


def model_calls(model: Proc) -> int:
    """Chat-completions requests the model server has served."""
    response = httpx.get(model.url + "/_bench/calls", timeout=10)
    response.raise_for_status()
    return int(response.json()["calls"])


def warm_up(server: Proc, model: Proc, size: Size) -> None:
    """One turn of each kind, not measured (first use of each path)."""
    set_pacing(model, 0.0, 0.0, size.first_token_answer_tokens)
    for question in QUESTIONS.values():
        load(server, 1, 60.0, 1, question)


def sample(server: Proc, model: Proc, size: Size, kind: str, streams: int) -> dict[str, Any]:
    """One round of one kind at one number of streams: per-request results and model calls."""
    set_pacing(model, size.first_token_ttft, size.tokens_per_second,
               size.first_token_answer_tokens)
    before = model_calls(model)
    out = load(server, streams, 600.0, streams * size.first_token_turns, QUESTIONS[kind])
    return {"results": out["results"], "calls": model_calls(model) - before}


def summary(samples: list[dict[str, Any]], kind: str, streams: int) -> dict[str, Any]:
    """TTFT percentiles and calls per turn over every round."""
    results = [r for s in samples for r in s["results"]]
    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    return {"kind": kind, "streams": streams, "turns": len(results),
            "errors": sum(1 for r in results if not r["ok"]),
            "calls_per_turn": round(sum(s["calls"] for s in samples) / len(results), 2)
            if results else None,
            "ttft_p50_ms": ms(percentile(ttfts, 50)), "ttft_p99_ms": ms(percentile(ttfts, 99))}
