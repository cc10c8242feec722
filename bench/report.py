"""The bench's outputs: the Markdown table (`latest.md`), raw JSON and the TTFT plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import thread_memory
from bench.stats import ratio

KINDS = ("ours", "baseline", "floor")


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def _times(ours: Any, other: Any) -> str:
    """ours / other, as `0.42×` (below 1× ours is lower)."""
    if not isinstance(ours, int | float) or not isinstance(other, int | float) or not other:
        return "–"
    return f"{ours / other:.2f}×"


def _row(label: str, ours: Any, base: Any, better: str = "lower") -> str:
    if better == "lower":
        r = ratio(ours, base)
    elif isinstance(ours, int | float) and isinstance(base, int | float) and base:
        r = round(ours / base, 2)
    else:
        r = None
    return f"| {label} | {_cell(ours)} | {_cell(base)} | {_cell(r)}× |"


def _level(data: dict[str, Any], kind: str, level: int) -> dict[str, Any]:
    return next((r for r in data[kind]["concurrency"] if r["concurrency"] == level), {})


def streams_table(data: dict[str, Any]) -> list[str]:
    """The headline: CPU per streamed token and added TTFT per concurrency, three servers."""
    lines = [
        "| streams | ours µs CPU/token | seed-design baseline | ours / baseline | floor | "
        "ours / floor | added TTFT p50 / p99 ms: ours | baseline | floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["ours"]["concurrency"]:
        c = row["concurrency"]
        o, b, f = (_level(data, kind, c) for kind in KINDS)
        cpu = [r.get("cpu_us_per_token") for r in (o, b, f)]
        ttft = [f"{_cell(r.get('added_ttft_p50_ms'))} / {_cell(r.get('added_ttft_p99_ms'))}"
                for r in (o, b, f)]
        lines.append(f"| {c} | {_cell(cpu[0])} | {_cell(cpu[1])} | {_times(cpu[0], cpu[1])} | "
                     f"{_cell(cpu[2])} | {_times(cpu[0], cpu[2])} | {' | '.join(ttft)} |")
    return lines


def turn_table(data: dict[str, Any]) -> list[str]:
    """The fixed CPU of a turn (alone and under load), the marginal CPU of a token, the
    fastest stream."""
    flat = [data[kind]["flat_out"] for kind in KINDS]
    rows = [("fixed CPU per turn, ms (one-token answers, one at a time, model flat out)",
             "fixed_cpu_ms_per_turn"),
            ("marginal CPU per token, µs (flat out)", "marginal_cpu_us_per_token"),
            (f"CPU per token, µs ({data['size']['flat_tokens']}-token answers, flat out)",
             "cpu_us_per_token"),
            ("max tokens/s, one stream (flat out)", "max_tokens_per_second")]
    lines = ["| Per turn and per token | ours | seed-design baseline | "
             "floor | ours / baseline | ours / floor |", "|---|---|---|---|---|---|"]
    for label, key in rows:
        o, b, f = (x.get(key) for x in flat)
        lines.append(f"| {label} | {_cell(o)} | {_cell(b)} | {_cell(f)} | {_times(o, b)} | "
                     f"{_times(o, f)} |")
    loaded = [data[kind].get("loaded_turn", {}) for kind in KINDS]
    o, b, f = (x.get("cpu_ms_per_turn") for x in loaded)
    lines.insert(3, f"| fixed CPU per turn, ms, at {loaded[0].get('concurrency')} streams "
                 f"(one-token answers, model paced) | {_cell(o)} | {_cell(b)} | {_cell(f)} | "
                 f"{_times(o, b)} | {_times(o, f)} |")
    return lines


def detail_table(data: dict[str, Any]) -> list[str]:
    """Per concurrency level and server: gaps, throughput, errors, memory."""
    lines = ["| streams | server | inter-token gap p99 ms | tokens/s | errors / requests | "
             "peak RSS MB |", "|---|---|---|---|---|---|"]
    for row in data["ours"]["concurrency"]:
        for kind in KINDS:
            r = _level(data, kind, row["concurrency"])
            lines.append(f"| {row['concurrency']} | {kind} | {_cell(r.get('gap_p99_ms'))} | "
                         f"{_cell(r.get('tokens_per_second'))} | {_cell(r.get('errors'))} / "
                         f"{_cell(r.get('requests'))} | {_cell(r.get('peak_rss_mb'))} |")
    return lines


def first_token_table(data: dict[str, Any]) -> list[str]:
    """Item 6: model calls per turn and time to the first answer token, by kind of question."""
    rows = data.get("first_token")
    if not rows:
        return []
    s = data["size"]
    lines = [f"Time to first answer token by question (item 6): the model at "
             f"{s['first_token_ttft'] * 1000:.0f} ms to first token per call, "
             f"{s['tokens_per_second']:.0f} tokens/s, {s['first_token_answer_tokens'] + 1}-token "
             "answers; each turn on a new thread. Absolute times, as a user waits.", "",
             "| question | streams | model calls per turn: ours / baseline | first answer token "
             "p50 ms: ours / baseline | ours / baseline | p99 ms: ours / baseline | errors |",
             "|---|---|---|---|---|---|---|"]
    for o, b in zip(rows["ours"], rows["baseline"], strict=True):
        lines.append(
            f"| {o['kind']} | {o['streams']} | {_cell(o['calls_per_turn'])} / "
            f"{_cell(b['calls_per_turn'])} | {_cell(o['ttft_p50_ms'])} / "
            f"{_cell(b['ttft_p50_ms'])} | {_times(o['ttft_p50_ms'], b['ttft_p50_ms'])} | "
            f"{_cell(o['ttft_p99_ms'])} / {_cell(b['ttft_p99_ms'])} | "
            f"{o['errors']} / {b['errors']} |")
    return lines


def markdown(data: dict[str, Any]) -> str:
    """The results as a Markdown document (machine, date, one table per item)."""
    m = data["machine"]
    s = data["size"]
    lines = [
        f"# Benchmark results ({data['size']['name']} run)", "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · "
        f"{m['platform']} · took {data['seconds']} s", "",
        f"Workload: a loopback server speaking the Azure OpenAI protocol (v1 API) at "
        f"{s['ttft'] * 1000:.0f} ms to first token per model call, "
        f"{s['tokens_per_second']:.0f} tokens/s, {s['answer_tokens'] + 1}-token answers; each "
        "`/stream` is one `@docsearch` turn on a new thread: two model calls (tool call, then "
        f"answer), so the model's own time to first answer token is {2 * s['ttft'] * 1000:.0f} "
        "ms and TTFT below is what a server adds to it. CPU is the server process's user + "
        "system time over the level, divided by the answer tokens it streamed. Below 1× in the "
        "ratio columns means ours uses less.", "",
        *streams_table(data), "",
        *turn_table(data), "",
        *detail_table(data), "",
        *first_token_table(data), "",
        "| Measurement | Ours | Baseline | Ratio (baseline / ours) |", "|---|---|---|---|",
    ]
    o, b = data["ours"], data["baseline"]
    lines.append(_row(f"3. /batch of {o['batch']['questions']} questions, wall s",
                      o["batch"]["wall_seconds"], b["batch"]["wall_seconds"]))
    cold = data["cold_start"]
    lines.append(_row("4. import ms (function_app / baseline module)",
                      cold["import_function_app_ms"], cold["import_baseline_ms"]))
    lines.append(_row("4. process start → first token ms",
                      cold["ours_start_to_first_token_ms"],
                      cold["baseline_start_to_first_token_ms"]))
    lines.append(f"| 4. `/health` while ours builds its bot: max / p50 ms "
                 f"({cold['health_during_build_polls']} polls) | "
                 f"{_cell(cold['health_during_build_max_ms'])} / "
                 f"{_cell(cold['health_during_build_p50_ms'])} | — | |")
    lines += ["", "Thread memory (item 5): one thread of the app's graph (offline model, "
              "@docsearch) on each store; bytes and requests of the one turn, the store's size "
              "after it. SQLite bytes are checkpoint and write payloads, Cosmos bytes are HTTP "
              "bodies (see bench/thread_memory.py).", ""]
    lines += thread_memory.markdown(data["thread_memory"])
    lines.append("")
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> None:
    """Added time-to-first-token (p50 and p99) against concurrency, every server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for kind, color in (("ours", "tab:blue"), ("baseline", "tab:orange"),
                        ("floor", "tab:green")):
        rows = data[kind]["concurrency"]
        levels = [r["concurrency"] for r in rows]
        ax.plot(levels, [r["added_ttft_p50_ms"] for r in rows], "o-", color=color,
                label=f"{kind} p50")
        ax.plot(levels, [r["added_ttft_p99_ms"] for r in rows], "s--", color=color,
                label=f"{kind} p99")
    ax.set_xscale("log", base=2)
    ax.set_xticks([r["concurrency"] for r in data["ours"]["concurrency"]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("simultaneous /stream requests")
    ax.set_ylabel("added time to first token (ms)")
    ax.set_title("Time to first token above the model's own")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(data: dict[str, Any], out_dir: Path) -> str:
    """Write latest.md, latest.json and the plot; the Markdown text."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(data)
    (out_dir / "latest.md").write_text(text)
    (out_dir / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, out_dir / "ttft_vs_concurrency.png")
    return text
