"""Runs every measurement, ours, the baseline and the floor in the same run, and writes the results.

Processes: the model server, our server (`python -m api`), the baseline
(`bench.baseline.server`) and the floor (`bench.floor.server`), each its own process, plus one
load-generator process per load. Each measurement runs on ours, then on the baseline, then on
the floor, before the next one starts. `/batch` and cold start are ours and the baseline only
(the floor has neither).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cold_start, first_token, streaming, thread_memory
from bench.config import Size
from bench.environment import RESULTS, machine
from bench.processes import Proc, running, start_model, start_server, stop
from bench.report import write


class Servers:
    """The servers; one that died (e.g. killed from outside) is restarted and warmed up."""

    def __init__(self, model: Proc, work: Path, size: Size, log: Callable[[str], None]) -> None:
        self.model, self.work, self.size, self.log = model, work, size, log
        self.procs = {kind: start_server(kind, model.url, work) for kind in KINDS}
        self.retired: list[Proc] = []
        self.restarts: dict[str, int] = dict.fromkeys(KINDS, 0)

    def live(self, kind: str) -> Proc:
        """The running server of this kind."""
        proc = self.procs[kind]
        if proc.process.poll() is None:
            return proc
        self.log(f"  {kind} server exited ({proc.process.returncode}); restarting it")
        self.retired.append(proc)
        self.restarts[kind] += 1
        proc = self.procs[kind] = start_server(kind, self.model.url, self.work)
        streaming.warm_up(proc, self.size)
        return proc

    def close(self) -> None:
        """Stop every server started."""
        for proc in [*self.procs.values(), *self.retired]:
            if proc.process.poll() is None:
                stop(proc)


KINDS = ("ours", "baseline", "floor")
APP_KINDS = ("ours", "baseline")  # the two that serve the bot (and `/batch`)


def _each(servers: Servers, run: Callable[[Proc], dict[str, Any]],
          into: dict[str, dict[str, Any]], key: str, log: Callable[[str], None],
          kinds: tuple[str, ...] = ()) -> None:
    for kind in kinds or KINDS:
        into[kind][key] = run(servers.live(kind))
        log(f"  {kind:8} {key}: {into[kind][key]}")


def first_token_item(servers: Servers, model: Proc, size: Size,
                     log: Callable[[str], None]) -> dict[str, list[dict[str, Any]]]:
    """Item 6 on ours and the baseline, servers in turn within each round."""
    for kind in APP_KINDS:
        first_token.warm_up(servers.live(kind), model, size)
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in APP_KINDS}
    for question in first_token.QUESTIONS:
        for streams in size.first_token_streams:
            samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in APP_KINDS}
            for _ in range(size.rounds):
                for kind in APP_KINDS:
                    samples[kind].append(first_token.sample(servers.live(kind), model, size,
                                                            question, streams))
            for kind in APP_KINDS:
                row = first_token.summary(samples[kind], question, streams)
                rows[kind].append(row)
                log(f"  {kind:8} {row}")
    return rows


def run(size: Size, out_dir: Path = RESULTS, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the bench at this size, write `out_dir`, return the data."""
    started = time.monotonic()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw_dir = out_dir / "raw" / stamp
    data: dict[str, Any] = {"size": size.__dict__, "machine": machine(),
                            **{kind: {"concurrency": []} for kind in KINDS}}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        model = start_model(raw_dir, size.ttft, size.tokens_per_second, size.answer_tokens)
        with running([model]):
            servers = Servers(model, work, size, log)
            try:
                log("warming up the servers")
                for kind in KINDS:
                    streaming.warm_up(servers.live(kind), size)
                log(f"1. flat out ({size.rounds} rounds, servers in turn)")
                flat: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
                for _ in range(size.rounds):
                    for kind in KINDS:
                        flat[kind].append(streaming.flat_sample(servers.live(kind), model, size))
                for kind in KINDS:
                    data[kind]["flat_out"] = streaming.flat_summary(flat[kind])
                    log(f"  {kind:8} flat_out: {data[kind]['flat_out']}")
                log(f"1b. one-token turns at {size.levels[0]} streams")
                loaded: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
                for _ in range(size.rounds):
                    for kind in KINDS:
                        loaded[kind].append(
                            streaming.loaded_turn_sample(servers.live(kind), model, size))
                for kind in KINDS:
                    data[kind]["loaded_turn"] = streaming.loaded_turn_summary(loaded[kind], size)
                    log(f"  {kind:8} loaded_turn: {data[kind]['loaded_turn']}")
                log(f"2. concurrency ({size.rounds} rounds per level, servers in turn)")
                for level in size.levels:
                    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
                    for _ in range(size.rounds):
                        for kind in KINDS:
                            rounds[kind].append(
                                streaming.level_sample(servers.live(kind), model, size, level))
                    for kind in KINDS:
                        row = streaming.level_summary(rounds[kind], size, level)
                        data[kind]["concurrency"].append(row)
                        log(f"  {kind:8} {row}")
                log("3. batch")
                _each(servers, lambda p: streaming.batch(p, model, size), data, "batch", log,
                      APP_KINDS)
                log(f"6. time to first answer token by question ({size.rounds} rounds)")
                data["first_token"] = first_token_item(servers, model, size, log)
                for proc in [*servers.procs.values(), *servers.retired]:
                    (raw_dir / f"{proc.name}.log").write_text(proc.log())
                data["restarts"] = servers.restarts
            finally:
                servers.close()
            log("4. cold start")
            streaming.set_pacing(model, 0.0, 0.0, size.answer_tokens)
            data["cold_start"] = cold_start.cold_start(model.url, work, size)
            log(f"  {data['cold_start']}")
        log("5. thread memory")
        (work / "threads").mkdir()
        data["thread_memory"] = asyncio.run(
            thread_memory.thread_memory(work / "threads", size.thread_turns))
        log(f"  {data['thread_memory']}")
    data["seconds"] = round(time.monotonic() - started, 1)
    text = write(data, out_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)  # every run's figures, for the spread
    (raw_dir / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    log("")
    log(text)
    return data
