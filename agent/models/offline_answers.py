"""The offline model's answers from tool results: extractive, cited, or a plain account of
what the tools returned (or that they failed or found nothing).

An answer is the sentences of the best results that share words with the question (and the
sentence after each, for context), in document order, one paragraph per source, cited as
`[[n]](source)`.
"""

from __future__ import annotations

import json
import re

from langchain_core.messages import ToolMessage

from agent.text import content_words
from agent.tools.results import SearchResult, parse_results

MAX_ANSWER_SENTENCES = 4
MAX_ANSWER_RESULTS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _sentences(result: SearchResult) -> list[str]:
    """The prose sentences of a result: code blocks and tables dropped, wrapped lines joined,
    Markdown markers removed."""
    text = re.sub(r"```.*?(```|$)", " ", result.content, flags=re.S)
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in paragraph.splitlines() if not ln.strip().startswith("|")]
        joined = " ".join(re.sub(r"^(#+|>|[-*+]|\d+\.)\s+", "", ln) for ln in lines if ln)
        joined = joined.replace("**", "").replace("`", "")
        sentences.extend(s.strip() for s in _SENTENCE.split(joined) if len(s.strip()) > 20)
    return sentences


def extractive_answer(question: str, results: list[SearchResult]) -> str:
    """From the best results, the sentences that mention the question's words (and the
    sentence after each, for context), in document order, one cited paragraph per source."""
    qwords = set(content_words(question))
    picked: dict[str, list[str]] = {}
    total = 0
    for result in results[:MAX_ANSWER_RESULTS]:
        sentences = _sentences(result)
        hits = [i for i, s in enumerate(sentences) if qwords & set(content_words(s))]
        keep = sorted({j for i in hits for j in (i, i + 1) if j < len(sentences)})
        keep = keep[: MAX_ANSWER_SENTENCES - total]
        if keep:
            picked.setdefault(result.source, []).extend(sentences[j] for j in keep)
            total += len(keep)
        if total >= MAX_ANSWER_SENTENCES:
            break
    if not picked:
        return ("The search returned results, but none of them mentions what you asked "
                "about, so I can't answer from them.")
    return "\n\n".join(f"{' '.join(sentences)} [[{n}]]({source})"
                        for n, (source, sentences) in enumerate(picked.items(), start=1))


def _raw_tool_answer(message: ToolMessage) -> str:
    text = message.text.strip()
    try:
        payload = json.loads(text)
        text = json.dumps(payload, ensure_ascii=False, indent=1)
    except ValueError:
        pass
    return f"`{message.name}` returned:\n\n{text[:1500]}"


def answer_from_tools(question: str, tool_messages: list[ToolMessage]) -> str:
    """The offline answer for one turn's tool results."""
    failures = [m for m in tool_messages if m.status == "error"]
    results = [r for m in tool_messages for r in parse_results(m.text)]
    if results:
        return extractive_answer(question, results)
    if failures and len(failures) == len(tool_messages):
        return f"The tool `{failures[0].name}` failed: {failures[0].text}"
    structured = [m for m in tool_messages if m.status != "error" and m.text.strip()
                  and not m.text.strip().startswith('{"results": []')]
    if structured:
        return _raw_tool_answer(structured[-1])
    return "The tools found nothing relevant to your question, so I can't answer it."
