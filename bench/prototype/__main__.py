"""`python -m bench.prototype`: ours against ours with `durability="exit"`, same run.

Flat out, concurrency 25 and 50, and `/batch`; prints one JSON object per measurement.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench import streaming
from bench.config import FULL
from bench.processes import running, start_model, start_server

KINDS = ("ours", "ours-exit")


def main() -> None:
    """Run and print."""
    with tempfile.TemporaryDirectory(prefix="bench-proto-") as tmp:
        work = Path(tmp)
        model = start_model(work, FULL.ttft, FULL.tokens_per_second, FULL.answer_tokens)
        with running([model]):
            servers = {kind: start_server(kind, model.url, work) for kind in KINDS}
            with running(list(servers.values())):
                for proc in servers.values():
                    streaming.warm_up(proc, FULL)
                for kind, proc in servers.items():
                    print(kind, "flat_out", json.dumps(streaming.flat_out(proc, model, FULL)))
                for level in (25, 50):
                    for kind, proc in servers.items():
                        row = streaming.concurrency(proc, model, FULL, level)
                        print(kind, json.dumps(row), flush=True)
                for kind, proc in servers.items():
                    print(kind, "batch", json.dumps(streaming.batch(proc, model, FULL)))


main()
