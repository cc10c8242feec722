"""How big each measurement is: the full run (`make bench`) and a tiny one (tests); item 7
(`bench.resume`) has its own sizes."""

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


@dataclass(frozen=True)
class ResumeSize:
    """The knobs of item 7 (`bench.resume`): the run event log of resumable streams."""

    name: str
    ttft: float = 0.3  # the model's time to first token, per model call
    # The answers measured: (tokens, tokens per second; 0 is flat out). Tokens count "Answer:".
    answers: tuple[tuple[int, float], ...] = ((100, 50.0), (300, 50.0), (300, 0.0), (2000, 0.0))
    paced_turns: int = 4  # turns per paced answer, with the log on and again off
    flat_turns: int = 10  # turns per flat-out answer, on and off
    join_turns: int = 6  # followed turns per paced answer (a second client on the other server)
    cpu_streams: int = 25  # simultaneous paced streams of the CPU measurement
    cpu_requests: int = 3  # requests per stream and round
    cpu_rounds: int = 2  # rounds, each with the log on and off (the order alternates)
    cpu_answer_tokens: int = 100
    stores: tuple[str, ...] = ("sqlite", "cosmos")


RESUME_FULL = ResumeSize("full")
RESUME_TINY = ResumeSize("tiny", ttft=0.05, answers=((10, 100.0), (20, 0.0)), paced_turns=1,
                         flat_turns=1, join_turns=1, cpu_streams=2, cpu_requests=1,
                         cpu_rounds=1, cpu_answer_tokens=5)
