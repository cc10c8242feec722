"""How big each measurement is: the full run (`make bench`, < 10 min) and a tiny one (tests)."""

from __future__ import annotations

from dataclasses import dataclass

QUESTION = "@docsearch How far away is the Moon?"  # the mention routes without a model call


@dataclass(frozen=True)
class Size:
    """The knobs of one bench run."""

    name: str
    ttft: float = 0.3  # the model's time to first token, per model call
    tokens_per_second: float = 50.0
    answer_tokens: int = 99  # words of a paced answer: "Answer:" + 99 words = 100 tokens
    flat_tokens: int = 2000  # tokens of each flat-out answer
    rounds: int = 2  # items 1 and 2 run the servers in turn, this many rounds, then sum up
    flat_streams: int = 2  # flat-out streams per server and round
    short_turns: int = 12  # flat-out one-token turns per server and round: a turn's fixed CPU
    levels: tuple[int, ...] = (25, 50, 100, 200)
    level_seconds: float = 7.0  # how long a level keeps starting requests, per round
    level_rounds: int = 4  # at most this many requests per worker per level and round
    batch_questions: int = 10
    batch_repeats: int = 1
    cold_repeats: int = 3
    thread_turns: int = 300
    warmup_streams: int = 6  # one after another, then one burst at the first level
    # Item 6, time to the first answer token by kind of question: the model at a fixed latency
    # per call (a reasoning deployment's), short answers; per round, at each number of
    # simultaneous streams, `first_token_turns` turns per stream.
    first_token_ttft: float = 0.5
    first_token_answer_tokens: int = 20
    first_token_streams: tuple[int, ...] = (1, 25)
    first_token_turns: int = 3


FULL = Size("full")
TINY = Size("tiny", answer_tokens=4, flat_tokens=100, flat_streams=1, short_turns=2, rounds=2,
            levels=(2, 4),
            level_seconds=0.5, level_rounds=1, batch_questions=2, cold_repeats=1,
            thread_turns=3, warmup_streams=1, ttft=0.05, first_token_ttft=0.05,
            first_token_answer_tokens=3, first_token_streams=(1, 3), first_token_turns=1)
