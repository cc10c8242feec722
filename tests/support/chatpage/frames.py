"""What a streamed answer costs the page, frame by frame, measured inside Chromium.

`START` (evaluated before the question is sent) records every animation frame's duration, the
browser's long tasks, and the DOM changes under `#messages`: nodes added, finished blocks
(`.blocks` children) added (in all, and while the answer streamed) and removed, and how many
times the unfinished block (`.live`) was redrawn within one frame. `STOP` returns them. Works on
any page with a `#messages` element (the block counts are then zero), so an older page can be
measured the same way.
"""

from __future__ import annotations

import statistics
from typing import Any

START = """() => {
  const perf = window.__perf = {frames: [], longtasks: [], nodesAdded: 0, blocksAdded: 0,
    blocksAddedStreaming: 0, blocksRemoved: 0, liveRedraws: [], streamingFrames: 0};
  let last = performance.now();
  let redraws = 0;
  const streaming = () => document.querySelector('.msg.assistant[data-state="streaming"]');
  const tick = (now) => {
    perf.frames.push(now - last);
    last = now;
    if (streaming()) perf.streamingFrames += 1;
    perf.liveRedraws.push(redraws);
    redraws = 0;
    if (!perf.stopped) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) perf.longtasks.push(entry.duration);
  }).observe({type: 'longtask', buffered: false});
  const count = (node) => 1 + (node.querySelectorAll ? node.querySelectorAll('*').length : 0);
  new MutationObserver((records) => {
    for (const r of records) {
      for (const node of r.addedNodes) perf.nodesAdded += count(node);
      if (r.target.classList && r.target.classList.contains('blocks')) {
        const added = [...r.addedNodes].filter((n) => n.nodeType === 1).length;
        perf.blocksAdded += added;
        if (streaming()) perf.blocksAddedStreaming += added;
        perf.blocksRemoved += [...r.removedNodes].filter((n) => n.nodeType === 1).length;
      }
      if (r.target.classList && r.target.classList.contains('live') && streaming()) redraws += 1;
    }
  }).observe(document.getElementById('messages'), {childList: true, subtree: true});
}"""

STOP = """() => { window.__perf.stopped = true; return window.__perf; }"""


def summary(perf: dict[str, Any]) -> dict[str, Any]:
    """Frame-time percentiles (ms), frames over 33/50 ms, the worst, long tasks, how the cost
    moved from the first third of the answer to the last, and the DOM work."""
    frames = sorted(perf["frames"])
    third = max(1, len(perf["frames"]) // 3)

    def pct(p: float) -> float:
        return round(frames[min(len(frames) - 1, int(p * len(frames)))], 1)

    return {
        "frames": len(frames),
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
        "max_ms": round(frames[-1], 1),
        "over_33_ms": sum(1 for f in frames if f > 33.4),
        "over_50_ms": sum(1 for f in frames if f > 50),
        "mean_first_third_ms": round(statistics.fmean(perf["frames"][:third]), 1),
        "mean_last_third_ms": round(statistics.fmean(perf["frames"][-third:]), 1),
        "long_tasks": len(perf["longtasks"]),
        "longest_task_ms": round(max(perf["longtasks"], default=0.0), 1),
        "nodes_added": perf["nodesAdded"],
        "blocks_added": perf["blocksAdded"],
        "blocks_added_while_streaming": perf["blocksAddedStreaming"],
        "blocks_removed": perf["blocksRemoved"],
        "most_live_redraws_in_a_frame": max(perf["liveRedraws"], default=0),
        "streaming_frames": perf["streamingFrames"],
    }
