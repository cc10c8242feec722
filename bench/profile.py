"""Where a server's CPU goes under the bench workload: `py-spy` samples, summed by library.

    python -m bench.profile [--server ours] [--streams 25] [--short] [--seconds 12]

Starts the model server and one server (`ours`, `baseline` or `floor`) as `make bench` does,
warms it up, then samples it with `py-spy` (pip install py-spy; not needed by `make bench`)
while the load generator runs `--streams` paced streams (or, with `--short`, one-token answers
one after another with the model flat out: the fixed work of a turn). Writes the raw collapsed
stacks to `bench/results/raw/profile-<server>-<streams>.txt` and prints the share of busy
samples spent in each group of libraries (by the innermost frame that belongs to a group) and
the functions with the most inclusive time.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import streaming
from bench.config import FULL
from bench.processes import ROOT, running, start_model, start_server

OUT = ROOT / "bench" / "results" / "raw"

# (group, pattern on the frame's file path), tried in order. A sample counts for the innermost
# frame of its stack that belongs to a group; helpers used by everyone (pydantic, typing,
# inspect, abc, functools, copy, enum, re, uuid, weakref) count for their caller.
GROUPS: tuple[tuple[str, str], ...] = (
    ("OpenAI SDK: chunk objects (construct_type)", r"openai/_models\.py|openai/_utils/"),
    ("OpenAI SDK: SSE decoding, requests, retries", r"openai/"),
    ("HTTP client (httpx, httpcore, anyio, aiohttp)",
     r"httpx2?/|httpcore2?/|anyio/|aiohttp/|yarl/|multidict/"),
    ("langchain-openai", r"langchain_openai/"),
    ("langchain-core (messages, callbacks, runnables)", r"langchain_core/"),
    ("LangGraph (steps, streaming, checkpoint)", r"langgraph/"),
    ("JSON (json, orjson, jiter)", r"(^|/)json/|orjson|jiter"),
    ("SQLite (checkpoint, docs search)", r"aiosqlite/|sqlite3/|agent/tools/local_index"),
    ("this app (agent/, api/, bench/floor/)", r"(^|/)(agent|api|bench)/"),
    ("serving (uvicorn, h11, Starlette, FastAPI, sse-starlette)",
     r"uvicorn/|h11/|starlette/|fastapi/|sse_starlette/"),
    ("event loop and sockets (asyncio, selectors, threads)",
     r"asyncio/|selectors\.py|threading\.py|concurrent/|queue\.py|socket\.py"),
)
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^:()]*)(:\d+)?\)$")


def group_of(file: str) -> str | None:
    """The group a frame's file belongs to, or None."""
    for name, pattern in GROUPS:
        if re.search(pattern, file):
            return name
    return None


def summarize(collapsed: str, top: int = 30) -> str:
    """Groups by share of samples (innermost grouped frame) and the top inclusive functions."""
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_FRAME.match(f) for f in stack.split(";")]
        parsed = [(m["name"], m["file"]) if m else (f, "") for m, f in
                  zip(frames, stack.split(";"), strict=True)]
        groups[next((g for _, file in reversed(parsed) if (g := group_of(file))), "other")] += n
        for name in {f"{name} ({file})" for name, file in parsed}:
            inclusive[name] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "| Where | share of busy CPU |", "|---|---|"]
    lines += [f"| {g} | {v / total:.0%} |" for g, v in groups.most_common()]
    lines += ["", "Top functions by inclusive share:", ""]
    lines += [f"{v / total:6.1%}  {name}" for name, v in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    """Run the load, sample the server, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--server", default="ours", choices=("ours", "baseline", "floor"))
    parser.add_argument("--streams", type=int, default=25)
    parser.add_argument("--short", action="store_true", help="one-token answers, flat out")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--gil", action="store_true",
                        help="sample only the thread holding the GIL (Python CPU, no waits)")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    OUT.mkdir(parents=True, exist_ok=True)
    label = "short" if args.short else str(args.streams)
    out = OUT / f"profile-{args.server}-{label}.txt"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = Path(tmp)
        model = start_model(work, FULL.ttft, FULL.tokens_per_second, FULL.answer_tokens)
        with running([model]):
            server = start_server(args.server, model.url, work)
            with running([server]):
                streaming.warm_up(server, FULL)
                if args.short:
                    streaming.set_pacing(model, 0.0, 0.0, 0)
                    streams, requests = 1, 10_000
                else:
                    streaming.set_pacing(model, FULL.ttft, FULL.tokens_per_second,
                                         FULL.answer_tokens)
                    streams, requests = args.streams, args.streams * FULL.level_rounds
                sampler = subprocess.Popen(
                    [spy, "record", "-p", str(server.pid), "-d", str(int(args.seconds)),
                     "-r", str(args.rate), "-f", "raw", "-o", str(out), "--nonblocking",
                     *(["--gil"] if args.gil else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                cpu0 = server.cpu_seconds()
                result = streaming.load(server, streams, args.seconds, requests)
                cpu = server.cpu_seconds() - cpu0
                sampler.wait()
    done = result["results"]
    tokens = sum(r["tokens"] for r in done)
    print(f"{args.server}, {label}: {len(done)} turns, {tokens} tokens, "
          f"{cpu / max(tokens, 1) * 1e6:.0f} µs CPU/token, {cpu / max(len(done), 1) * 1e3:.1f} "
          f"ms CPU/turn; stacks in {out.relative_to(ROOT)}\n")
    print(summarize(out.read_text()))


if __name__ == "__main__":
    main()
