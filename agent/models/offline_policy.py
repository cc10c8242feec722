"""What the offline model says: pick a route, fill a tool call, or answer from tool results.

The offline model has no weights; it is a small, honest policy. It routes by keywords, calls
a tool when it can fill every required argument from the question, and answers extractively:
the sentences of the tool results that share the most words with the question, each cited as
`[[n]](source)`. What it cannot do (write SQL, reason over numbers) it says plainly, naming
the settings that enable a real model. As the `chat` specialist (no tools; the specialists are
listed in its system prompt) it answers a greeting or "what can you do?" with a short summary
of the specialists, and any other question by naming the specialist that could answer it (and
the setting that enables it when it is not configured).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.specialists import AVAILABLE, CAPABILITY_SEPARATOR, CHAT
from agent.text import WORD, content_words
from agent.tools.results import SearchResult, parse_results

REAL_MODEL_HINT = (
    "set MODEL_PROVIDER=azure with AZURE_OPENAI_ENDPOINT (Azure OpenAI), or "
    "MODEL_PROVIDER=openai with OPENAI_BASE_URL (any OpenAI-compatible server)"
)
QUERY_PARAM_NAMES = frozenset({"query", "q", "question", "search", "text", "keywords", "terms"})
MAX_ANSWER_SENTENCES = 4
MAX_ANSWER_RESULTS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_MENTION = re.compile(r"(?<!\w)@\w+[,:]?\s*")
ROUTE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sqlsearch": ("sql", "database", "table", "rows", "covid", "deaths", "death", "cases",
                  "hospitalized", "tests", "state", "states", "average", "total", "sum",
                  "count", "how many", "most", "least", "per day"),
    "apisearch": ("price", "prices", "rate", "exchange", "quote", "api", "bitcoin", "btc",
                  "ethereum", "eth", "crypto", "currency", "stock", "weather"),
    "websearch": ("news", "today", "latest", "current", "recent", "web", "internet", "who is",
                  "capital", "distance", "wrote", "president", "when did", "population"),
    "docsearch": ("docs", "documentation", "document", "readme", "how do i", "configure",
                  "setting", "settings", "deploy", "thread", "stream", "api", "index"),
    CHAT: ("hello", "hi", "hey", "good morning", "good afternoon", "good evening", "thanks",
           "thank you", "thx", "bye", "goodbye", "who are you", "what are you", "your name",
           "what can you do", "what do you do", "how are you", "help"),
}
THANKS_KEYWORDS = ("thanks", "thank you", "thx", "bye", "goodbye")
_CAPABILITY = re.compile(
    rf"^- @(\w+){CAPABILITY_SEPARATOR}(.+?){CAPABILITY_SEPARATOR}(.+)$", re.MULTILINE)
_ENABLE_HINT = re.compile(r"not configured \(enable with (.+)\)")


def strip_mentions(text: str) -> str:
    """The question without `@specialist` mentions."""
    return _MENTION.sub("", text).strip()


def current_turn(messages: Sequence[BaseMessage]) -> tuple[str, list[ToolMessage]]:
    """The last human question and the tool results that came after it."""
    question: str = ""
    results: list[ToolMessage] = []
    for message in messages:
        if isinstance(message, HumanMessage):
            question, results = message.text, []
        elif isinstance(message, ToolMessage):
            results.append(message)
    return question, results


def keyword_scores(question: str, names: Iterable[str]) -> dict[str, int]:
    """How many of each specialist's keywords the question mentions."""
    text = f" {strip_mentions(question).lower()} "
    return {name: sum(1 for kw in ROUTE_KEYWORDS.get(name, ()) if re.search(rf"\b{kw}\b", text))
            for name in names}


def choose_route(question: str, choices: Sequence[str]) -> str:
    """The specialist whose keywords the question mentions most (docsearch on a tie).

    With `chat` among the choices, it gets greetings and the like, questions that match no
    specialist, and questions that match one not offered (not configured) best."""
    scores = keyword_scores(question, ROUTE_KEYWORDS)
    offered = [name for name in choices if name != CHAT]
    best = max((scores.get(name, 0) for name in offered), default=0)
    if CHAT in choices:
        missing = max((n for name, n in scores.items() if name not in choices), default=0)
        if best == 0 or scores[CHAT] > best or missing > best:
            return CHAT
    if best == 0 or scores.get("docsearch") == best:
        return "docsearch" if "docsearch" in choices else choices[0]
    return next(name for name in offered if scores.get(name, 0) == best)


def _enum_value(values: Sequence[Any], question: str) -> Any:
    lowered = {w.lower() for w in WORD.findall(question)}
    for value in values:
        if str(value).lower() in lowered:
            return value
    return None


def _is_sql_tool(tool: dict[str, Any]) -> bool:
    function = tool.get("function", {})
    return "sql" in f"{function.get('name', '')} {function.get('description', '')}".lower()


def _unwrap_optional(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema as pydantic writes it, `{"anyOf": [X, {"type": "null"}]}`,
    as X (keeping its description and default)."""
    for branch in schema.get("anyOf", []) or []:
        if isinstance(branch, dict) and branch.get("type") != "null":
            return {**schema, **branch}
    return schema


def _code_token(question: str, taken: set[str]) -> str | None:
    """An upper-case code in the question (ETH, NY, ...) not already used by another argument."""
    for token in WORD.findall(strip_mentions(question)):
        if token.isupper() and token.isalpha() and 2 <= len(token) <= 10 and token not in taken:
            return str(token)
    return None


def fill_arguments(tool: dict[str, Any], question: str) -> dict[str, Any] | None:
    """Arguments for an OpenAI-format tool taken from the question, or None if it can't.

    Enum fields first (so a code like USD goes to its enum), then query-like strings get the
    question and other required strings an upper-case code from it (a ticker, a state)."""
    params = tool.get("function", {}).get("parameters", {}) or {}
    properties = {n: _unwrap_optional(s) for n, s in (params.get("properties") or {}).items()}
    required = set(params.get("required", []) or [])
    sql_tool = _is_sql_tool(tool)
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        if "enum" in schema and (value := _enum_value(schema["enum"], question)) is not None:
            args[name] = value
    taken = {str(v) for v in args.values()}
    for name, schema in properties.items():
        if name in args or "enum" in schema or schema.get("type") != "string" or sql_tool:
            continue
        if name.lower() in QUERY_PARAM_NAMES:
            args[name] = strip_mentions(question)
        elif name in required and (code := _code_token(question, taken)) is not None:
            args[name] = code
            taken.add(code)
    if required - args.keys():
        return None
    return {name: args[name] for name in properties if name in args}


def plan_tool_call(tools: Sequence[dict[str, Any]], question: str) -> AIMessage | None:
    """A call to the tool whose arguments the question fills best, or None if none fits."""
    best: tuple[int, dict[str, Any], str] | None = None
    qwords = set(content_words(question))
    for tool in tools:
        args = fill_arguments(tool, question)
        if args is None:
            continue
        function = tool["function"]
        about = f"{function['name']} {function.get('description', '')}"
        overlap = len(qwords & set(content_words(about)))
        score = 10 * len(args) + overlap
        if best is None or score > best[0]:
            best = (score, args, function["name"])
    if best is None:
        return None
    call = {"name": best[2], "args": best[1], "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


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


def respond(
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None,
    tool_choice: Any,
) -> AIMessage:
    """The offline model's reply to a conversation, given the tools bound to it."""
    question, tool_messages = current_turn(messages)
    tools = list(tools or [])
    capabilities = [] if tools else read_capabilities(messages)
    if capabilities:
        return AIMessage(content=chat_answer(question, capabilities))
    if tools and tool_choice not in (None, "auto", "none"):
        return _structured_choice(tools[0], question)
    if tool_messages:
        return AIMessage(content=answer_from_tools(question, tool_messages))
    if any(_is_sql_tool(t) for t in tools):
        return AIMessage(
            content="Offline mode can't answer this: it needs a model that writes SQL, and "
            f"the offline model doesn't. To enable one, {REAL_MODEL_HINT}."
        )
    if tools:
        call = plan_tool_call(tools, question)
        if call is not None:
            return call
        names = ", ".join(f"`{t['function']['name']}`" for t in tools)
        return AIMessage(
            content=f"Offline mode can't work out how to use {names} for this question: that "
            f"needs a real model (for example to write SQL). To enable one, {REAL_MODEL_HINT}."
        )
    return AIMessage(
        content="Offline mode answers only from tool results, and no tool applies here. "
        f"To use a real model, {REAL_MODEL_HINT}."
    )


def _structured_choice(tool: dict[str, Any], question: str) -> AIMessage:
    """A forced call (structured output): fill enum fields by keywords, strings by defaults."""
    function = tool["function"]
    properties = function.get("parameters", {}).get("properties", {})
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        if "enum" in schema:
            args[name] = choose_route(question, list(schema["enum"]))
        elif schema.get("type") == "string":
            args[name] = "chosen offline by keywords"
    call = {"name": function["name"], "args": args, "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


@dataclass(frozen=True)
class Capability:
    """One specialist as the chat prompt lists it."""

    name: str
    available: bool
    enable_hint: str
    description: str

    @property
    def about(self) -> str:
        """The description as a clause: first letter lower-case, no final period."""
        text = self.description.rstrip(".")
        return text[:1].lower() + text[1:]


def read_capabilities(messages: Sequence[BaseMessage]) -> list[Capability]:
    """The specialists listed in the system prompt (the chat specialist's), if any."""
    prompt = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
    out: list[Capability] = []
    for name, status, description in _CAPABILITY.findall(prompt):
        hint = _ENABLE_HINT.fullmatch(status)
        out.append(Capability(name, status == AVAILABLE, hint.group(1) if hint else "",
                              description))
    return out


def _summary(capabilities: Sequence[Capability], greeting: bool) -> str:
    available = [c for c in capabilities if c.available]
    missing = [c for c in capabilities if not c.available]
    parts = [("Hello! " if greeting else "")
             + "I'm a smart bot: I pass each question to a specialist that answers from its "
             "own sources, with citations.",
             "\n".join(f"- @{c.name}: {c.about}." for c in available)]
    if missing:
        parts.append("Not configured on this server: "
                     + "; ".join(f"@{c.name} (set {c.enable_hint})" for c in missing) + ".")
    parts.append("Just ask, or start your message with @name to pick a specialist. This server "
                 "runs the offline model, which answers with extracts from the sources; for a "
                 f"real model, {REAL_MODEL_HINT}.")
    return "\n\n".join(parts)


def chat_answer(question: str, capabilities: Sequence[Capability]) -> str:
    """The offline chat specialist's answer: a capability summary for a greeting or a question
    about the bot, thanks for thanks, otherwise which specialist could answer."""
    by_name = {c.name: c for c in capabilities}
    scores = keyword_scores(question, [*by_name, CHAT])
    fitting = max(by_name, key=lambda name: scores[name], default="")
    best = scores.get(fitting, 0)
    if scores[CHAT] and scores[CHAT] >= best:
        if any(re.search(rf"\b{kw}\b", question.lower()) for kw in THANKS_KEYWORDS):
            return "You're welcome! Ask me anything else whenever you like."
        greeting = bool(re.match(r"\W*(hello|hi|hey|good)\b", strip_mentions(question).lower()))
        return _summary(capabilities, greeting)
    if best:
        spec = by_name[fitting]
        if spec.available:
            return (f"That sounds like a question for @{spec.name}, which {spec.about}. Ask it "
                    f"again starting with @{spec.name} and it will answer from its sources.")
        return (f"That needs @{spec.name}, which {spec.about}, and it is not configured on "
                f"this server, so I can't look it up. To enable it, set {spec.enable_hint}.")
    names = ", ".join(f"@{c.name}" for c in capabilities if c.available)
    return ("I can't answer that: offline mode has no general knowledge, only the specialists' "
            f"sources ({names}). Start your question with one of them to search its sources, "
            f"or, for a real model, {REAL_MODEL_HINT}.")
