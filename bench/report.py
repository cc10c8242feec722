"""The bench's outputs: the Markdown table (`latest.md`), raw JSON and the TTFT plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import thread_memory
from bench.stats import ratio


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def _row(label: str, ours: Any, base: Any, better: str = "lower") -> str:
    if better == "lower":
        r = ratio(ours, base)
    elif isinstance(ours, int | float) and isinstance(base, int | float) and base:
        r = round(ours / base, 2)
    else:
        r = None
    return f"| {label} | {_cell(ours)} | {_cell(base)} | {_cell(r)}× |"


def markdown(data: dict[str, Any]) -> str:
    """The results as a Markdown document (machine, date, one table per item)."""
    m = data["machine"]
    s = data["size"]
    lines = [
        f"# Benchmark results ({data['size']['name']} run)", "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · "
        f"{m['platform']} · took {data['seconds']} s", "",
        f"Model server: {s['ttft'] * 1000:.0f} ms to first token per model call, "
        f"{s['tokens_per_second']:.0f} tokens/s, {s['answer_tokens']}-token answers; each "
        "`/stream` makes two model calls (tool call, then answer), so the model's own time to "
        f"first answer token is {2 * s['ttft'] * 1000:.0f} ms. Ratio = baseline / ours for "
        "lower-is-better rows, ours / baseline for higher-is-better ones; above 1× means ours "
        "is better.", "",
        "| Measurement | Ours | Baseline | Ratio |", "|---|---|---|---|",
    ]
    o, b = data["ours"], data["baseline"]
    lines.append(_row("1. CPU µs per streamed token (flat out)",
                      o["flat_out"]["cpu_us_per_token"], b["flat_out"]["cpu_us_per_token"]))
    lines.append(_row("1. max tokens/s, one stream (flat out)",
                      o["flat_out"]["max_tokens_per_second"],
                      b["flat_out"]["max_tokens_per_second"], better="higher"))
    for lo, lb in zip(o["concurrency"], b["concurrency"], strict=True):
        c = lo["concurrency"]
        lines.append(_row(f"2. c={c}: added TTFT p50 ms", lo["added_ttft_p50_ms"],
                          lb["added_ttft_p50_ms"]))
        lines.append(_row(f"2. c={c}: added TTFT p99 ms", lo["added_ttft_p99_ms"],
                          lb["added_ttft_p99_ms"]))
        lines.append(_row(f"2. c={c}: inter-token gap p99 ms", lo["gap_p99_ms"],
                          lb["gap_p99_ms"]))
        lines.append(f"| 2. c={c}: errors / requests | {lo['errors']} / {lo['requests']} | "
                     f"{lb['errors']} / {lb['requests']} | |")
        lines.append(_row(f"2. c={c}: peak RSS MB", lo["peak_rss_mb"], lb["peak_rss_mb"]))
        lines.append(_row(f"2. c={c}: CPU µs per token", lo["cpu_us_per_token"],
                          lb["cpu_us_per_token"]))
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
    """Added time-to-first-token (p50 and p99) against concurrency, both servers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for kind, color in (("ours", "tab:blue"), ("baseline", "tab:orange")):
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
