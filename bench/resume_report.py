"""Item 7's figures (`bench.resume`): per-turn raw figures summed up, and `resume.md`/`.json`."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean
from typing import Any

from bench.stats import ms, percentile

STORE_KEYS = {"sqlite": ("commits", "wal_bytes"),
              "cosmos": ("write_requests", "bytes_written", "read_requests", "requests")}


def _mean(values: list[Any], digits: int = 1) -> float | None:
    known = [v for v in values if v is not None]
    return round(mean(known), digits) if known else None


def _answer(tokens: int, rate: float) -> str:
    return f"{tokens} tokens, " + (f"{rate:.0f} tokens/s" if rate else "flat out")


def _writes(row: dict[str, Any], store: str) -> dict[str, Any]:
    """One answer's turns: the log's own counters (log on) and the store's, on and off."""
    on = [t for t in row["turns"] if t["on"]]
    off = [t for t in row["turns"] if not t["on"]]
    writes = [t["runlog"]["writes"] for t in on]
    out: dict[str, Any] = {
        "answer": _answer(row["tokens"], row["tokens_per_second"]), "tokens": row["tokens"],
        "tokens_per_second": row["tokens_per_second"], "turns_on": len(on),
        "turns_off": len(off), "errors": sum(1 for t in row["turns"] if not t["ok"]),
        "streamed_tokens_per_turn": _mean([t["tokens"] for t in row["turns"]]),
        "log_writes_per_turn": _mean(writes),
        "log_writes_min": min(writes) if writes else None,
        "log_writes_max": max(writes) if writes else None,
        "log_writes_while_off": sum(t["runlog"]["writes"] for t in off),
        "log_events_per_turn": _mean([t["runlog"]["events"] for t in on]),
        "log_row_bytes_per_turn": _mean([t["runlog"]["row_bytes"] for t in on], 0),
        "log_ms_per_write": _mean([t["runlog"]["write_seconds"] * 1e3 / t["runlog"]["writes"]
                                   for t in on if t["runlog"]["writes"]], 2),
        "log_failed_writes": sum(t["runlog"]["failed_writes"] for t in on),
        "cpu_ms_per_turn_on": _mean([t["cpu_seconds"] * 1e3 for t in on]),
        "cpu_ms_per_turn_off": _mean([t["cpu_seconds"] * 1e3 for t in off]),
        "turn_seconds_on": _mean([t["total_seconds"] for t in on], 3),
    }
    for key in STORE_KEYS[store]:
        on_value = _mean([t["store"][key] for t in on])
        off_value = _mean([t["store"][key] for t in off])
        out[f"{key}_per_turn_on"] = on_value
        out[f"{key}_per_turn_off"] = off_value
        out[f"{key}_per_turn_log"] = (None if on_value is None or off_value is None
                                      else round(on_value - off_value, 1))
    return out


def _joined(row: dict[str, Any], store: str, reads_on: float | None) -> dict[str, Any]:
    """One paced answer's followed turns: per-event added latency, and what following costs."""
    turns = row["turns"]
    delays = [d for t in turns for d in t["delays"]]
    followed = sum(t["followed_seconds"] for t in turns)
    out: dict[str, Any] = {
        "answer": _answer(row["tokens"], row["tokens_per_second"]), "tokens": row["tokens"],
        "tokens_per_second": row["tokens_per_second"], "turns": len(turns),
        "all_events_once_in_order": all(t["same_events"] for t in turns),
        "all_ended": all(t["ended"] for t in turns),
        "events_timed": len(delays), "events_replayed": sum(t["replayed"] for t in turns),
        "added_p50_ms": ms(percentile(delays, 50)), "added_p99_ms": ms(percentile(delays, 99)),
        "added_max_ms": ms(max(delays)) if delays else None,
        "end_added_p50_ms": ms(percentile([t["end_delay"] for t in turns
                                           if t["end_delay"] is not None], 50)),
        "join_retries": sum(t["join_retries"] for t in turns),
        "followed_seconds": round(followed, 2),
        "joiner_cpu_ms_per_second": round(sum(t["b_cpu_seconds"] for t in turns) * 1e3
                                          / followed, 1) if followed else None,
    }
    if store == "cosmos" and reads_on is not None and followed:
        reads = sum(t["store"]["read_requests"] for t in turns) - reads_on * len(turns)
        out["joiner_reads_per_second"] = round(reads / followed, 1)
    return out


def _cpu(rounds: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """CPU per token at `cpu_streams` paced streams, on and off; and flat out, one stream."""
    out: dict[str, Any] = {}
    for on, label in ((True, "on"), (False, "off")):
        mine = [r for r in rounds if r["on"] is on]
        tokens = sum(r["tokens"] for r in mine)
        out[f"cpu_us_per_token_{label}"] = (round(sum(r["cpu_seconds"] for r in mine) / tokens
                                                  * 1e6, 1) if tokens else None)
        out[f"cpu_us_per_token_{label}_by_round"] = [
            round(r["cpu_seconds"] / r["tokens"] * 1e6, 1) if r["tokens"] else None
            for r in mine]
        out[f"requests_{label}"] = sum(r["requests"] for r in mine)
        out[f"tokens_{label}"] = tokens
    out["errors"] = sum(r["errors"] for r in rounds)
    on, off = out["cpu_us_per_token_on"], out["cpu_us_per_token_off"]
    out["on_over_off"] = round(on / off, 2) if on and off else None
    flat = [a for a in answers if not a["tokens_per_second"]]
    if flat:
        big = max(flat, key=lambda a: a["tokens"])
        per_token = {k: round(big[f"cpu_ms_per_turn_{k}"] * 1e3 / big["streamed_tokens_per_turn"],
                              1) if big[f"cpu_ms_per_turn_{k}"] and big["streamed_tokens_per_turn"]
                     else None for k in ("on", "off")}
        out["flat_out"] = {"tokens": big["tokens"], "cpu_us_per_token_on": per_token["on"],
                           "cpu_us_per_token_off": per_token["off"]}
    return out


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The figures of every store from the raw per-turn ones (`bench.resume.run`)."""
    data: dict[str, Any] = {k: raw[k] for k in ("size", "machine", "load_average_at_start",
                                                  "load_average_at_end", "seconds")}
    data["note"] = raw.get("note", "")
    for store in raw["size"]["stores"]:
        answers = [_writes(row, store) for row in raw[store]["writes"]]
        reads_on = {a["tokens"]: a.get("read_requests_per_turn_on") for a in answers
                    if a["tokens_per_second"]}
        data[store] = {
            "writes": answers,
            "joined": [_joined(row, store, reads_on.get(row["tokens"]))
                       for row in raw[store]["joined"]],
            "cpu": {"streams": raw["size"]["cpu_streams"],
                    "answer_tokens": raw["size"]["cpu_answer_tokens"],
                    **_cpu(raw[store]["cpu"], answers)},
        }
    return data


def _c(value: Any) -> str:
    return "–" if value is None else str(value)


def _kb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1024:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def markdown(data: dict[str, Any]) -> str:
    """`resume.md`: the three tables, with how they were measured."""
    m, s = data["machine"], data["size"]
    lines = [f"# Resumable streams: the run event log ({s['name']} run)", "",
             f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · took "
             f"{data['seconds']} s · load average {data['load_average_at_start'][0]} at the "
             f"start, {data['load_average_at_end'][0]} at the end", "",
             "The machine may be shared with other work (the load average says how busy it "
             "was): the log on and off take turns, turn by turn and round by round, so such "
             "load falls on both; compare within a run." + (f" {data['note']}" if data.get("note")
                                                            else ""), "",
             "Each turn: one `@docsearch` `/stream` turn with `on_disconnect: continue` on a new "
             f"thread, the model at {s['ttft'] * 1000:.0f} ms to first token per call (two calls), "
             "one turn at a time on server A (`bench.resume_server`: ours with a switch for the "
             "run log and counters of its writes). Log on and off in turn, same answers. See "
             "`bench/resume.py` for how each figure is taken.", "",
             "Store writes per streamed turn. SQLite: the log's write transactions; the whole "
             "turn's commits and write-ahead-log KB (pages + frame headers) with the log on / "
             "off. Row KB: the values the log stores (ids, event names, data).", "",
             "| answer | log transactions per turn (min–max) | events | row KB | ms per write | "
             "commits per turn on / off | WAL KB per turn on / off | the log's WAL KB |",
             "|---|---|---|---|---|---|---|---|"]
    for a in data.get("sqlite", {}).get("writes", []):
        lines.append(
            f"| {a['answer']} | {_c(a['log_writes_per_turn'])} ({_c(a['log_writes_min'])}–"
            f"{_c(a['log_writes_max'])}) "
            f"| {_c(a['log_events_per_turn'])} | {_kb(a['log_row_bytes_per_turn'])} | "
            f"{_c(a['log_ms_per_write'])} | {_c(a['commits_per_turn_on'])} / "
            f"{_c(a['commits_per_turn_off'])} | {_kb(a['wal_bytes_per_turn_on'])} / "
            f"{_kb(a['wal_bytes_per_turn_off'])} | {_kb(a['wal_bytes_per_turn_log'])} |")
    lines += ["", "Cosmos DB (the stand-in's counters): the log's writes (one transactional batch "
              "each); the whole turn's write requests and request-body KB with the log on / off.",
              "", "| answer | log writes per turn (min–max) | events | row KB | ms per write | "
              "write requests per turn on / off | request KB per turn on / off | the log's "
              "requests, KB |", "|---|---|---|---|---|---|---|---|"]
    for a in data.get("cosmos", {}).get("writes", []):
        lines.append(
            f"| {a['answer']} | {_c(a['log_writes_per_turn'])} ({_c(a['log_writes_min'])}–"
            f"{_c(a['log_writes_max'])}) "
            f"| {_c(a['log_events_per_turn'])} | {_kb(a['log_row_bytes_per_turn'])} | "
            f"{_c(a['log_ms_per_write'])} | {_c(a['write_requests_per_turn_on'])} / "
            f"{_c(a['write_requests_per_turn_off'])} | {_kb(a['bytes_written_per_turn_on'])} / "
            f"{_kb(a['bytes_written_per_turn_off'])} | {_c(a['write_requests_per_turn_log'])}, "
            f"{_kb(a['bytes_written_per_turn_log'])} |")
    lines += ["", "Added latency of a joined stream: a second client follows the run on server "
              "B (`GET /threads/{t}/runs/{r}/stream`, from the first event) while the first "
              "streams it from A; per event, B's arrival minus A's (events A received after B's "
              "stream opened). Following costs B CPU, and on Cosmos DB read requests.", "",
              "| store | answer | turns | events timed | added p50 / p99 / max ms | `end` p50 ms "
              "| joiner CPU ms per s | joiner reads per s | every event once, in order |",
              "|---|---|---|---|---|---|---|---|---|"]
    for store in s["stores"]:
        for j in data[store]["joined"]:
            lines.append(
                f"| {store} | {j['answer']} | {j['turns']} | {j['events_timed']} | "
                f"{_c(j['added_p50_ms'])} / {_c(j['added_p99_ms'])} / {_c(j['added_max_ms'])} "
                f"| {_c(j['end_added_p50_ms'])} | {_c(j['joiner_cpu_ms_per_second'])} | "
                f"{_c(j.get('joiner_reads_per_second'))} | "
                f"{'yes' if j['all_events_once_in_order'] and j['all_ended'] else 'NO'} |")
    lines += ["", "CPU per streamed token of server A (user + system over the answer tokens), "
              "the log on and off: simultaneous paced streams (rounds alternate on/off and "
              "off/on), and flat out, one stream at a time (from the writes above).", "",
              "| store | streams | µs per token, log on | off | on / off | by round, on; off | "
              "flat out: tokens | on | off | on / off | errors |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for store in s["stores"]:
        c = data[store]["cpu"]
        flat = c.get("flat_out", {})
        lines.append(
            f"| {store} | {c['streams']} × {c['answer_tokens']} tokens | "
            f"{_c(c['cpu_us_per_token_on'])} | {_c(c['cpu_us_per_token_off'])} | "
            f"{_ratio(c['cpu_us_per_token_on'], c['cpu_us_per_token_off'])} | "
            f"{_c(c['cpu_us_per_token_on_by_round'])}; {_c(c['cpu_us_per_token_off_by_round'])} "
            f"| {_c(flat.get('tokens'))} | {_c(flat.get('cpu_us_per_token_on'))} | "
            f"{_c(flat.get('cpu_us_per_token_off'))} | "
            f"{_ratio(flat.get('cpu_us_per_token_on'), flat.get('cpu_us_per_token_off'))} | "
            f"{c['errors']} |")
    lines.append("")
    return "\n".join(lines)


def write(data: dict[str, Any], out_dir: Path) -> str:
    """Write `resume.md` and `resume.json` in `out_dir`; the Markdown text."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(data)
    (out_dir / "resume.md").write_text(text)
    (out_dir / "resume.json").write_text(json.dumps(data, indent=2) + "\n")
    return text
