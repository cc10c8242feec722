"""An OpenAPI 3.x document turned into LangChain tools: one typed tool per GET operation.

Each GET operation becomes a `StructuredTool` named after its `operationId` (sanitised, at most
64 characters), described by its summary/description, with an args model built by
`pydantic.create_model` from its path and query parameters (string, integer, number, boolean,
enum, arrays of those; required or optional; with their descriptions). `$ref`s within the
spec (path items, parameters, schemas, chains of refs) are followed with `jsonref`; a ref into
another document is never fetched, and what it stood for is left out. A call goes to the
spec's `servers[0]` URL only (a relative one is resolved against the spec's own URL), through
`netguard` with that server's host as the only allowed host, so neither redirects nor odd
parameters can send it elsewhere. A path parameter is refused in the args model (so before any
call, and by `agent.tools.calls.prepare_call`) if it could leave its segment on a server that
decodes it: `.`/`..`, `/` or `\\`, control characters, in any percent-encoded or Unicode
compatibility form (`agent.tools.path_params`); what passes is percent-encoded (`?`, `#`, `%`
included). The JSON response, bounded, is returned in the shared results
shape with `source` = the URL called, so answers can cite it.

Azure OpenAI accepts at most `MAX_TOOLS` (128) tools per request: a spec with more GET
operations is cut to the chosen operationIds, or to the first 128 with a logged warning.
"""

from __future__ import annotations

import json
import keyword
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

import jsonref
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import AfterValidator, BaseModel, Field, create_model

from agent.tools.netguard import OutboundError, OutboundPolicy, fetch
from agent.tools.path_params import encode_path_value, path_check
from agent.tools.results import SearchResult, results_json

logger = logging.getLogger(__name__)

MAX_TOOLS = 128  # Azure OpenAI refuses a request declaring more tools
MAX_RESPONSE_CHARS = 8000
MAX_DESCRIPTION_CHARS = 1000
MAX_TOOL_NAME = 64
_ERROR_BODY_CHARS = 300
_SUPPORTED_LOCATIONS = ("path", "query")
_SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_MAX_REF_CHAIN = 20  # a $ref to a $ref to ...: longer chains (or loops) count as unresolvable
_MAX_ARRAY_DEPTH = 8  # arrays of arrays typed this deep; deeper (a self-reference) is untyped


class OpenAPISpecError(ValueError):
    """The document is not an OpenAPI 3.x spec this module can use."""


@dataclass(frozen=True)
class Parameter:
    """One path or query parameter, and the args-model field that carries it."""

    name: str
    location: str
    field_name: str
    required: bool


@dataclass(frozen=True)
class Operation:
    """One GET operation, ready to become a tool."""

    operation_id: str
    tool_name: str
    summary: str
    description: str
    path: str
    parameters: tuple[Parameter, ...]
    args_schema: type[BaseModel]


def parse_spec_text(text: str) -> dict[str, Any]:
    """Parse JSON (or YAML, when PyYAML is installed) and check it is OpenAPI 3.x."""
    try:
        data = json.loads(text)
    except ValueError:
        data = _parse_yaml(text)
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3."):
        raise OpenAPISpecError("not an OpenAPI 3.x document (no 'openapi: 3.x' field)")
    if not isinstance(data.get("paths"), dict):
        raise OpenAPISpecError("the OpenAPI document has no 'paths'")
    return data


def _parse_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise OpenAPISpecError("the spec is not JSON (and PyYAML is not installed)") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OpenAPISpecError("the spec is neither valid JSON nor valid YAML") from exc


def server_url(spec: dict[str, Any], spec_url: str | None) -> str:
    """The absolute base URL of `servers[0]` (variables filled with their defaults)."""
    servers = spec.get("servers") or [{"url": "/"}]
    first = servers[0] if isinstance(servers, list) and isinstance(servers[0], dict) else {}
    url = str(first.get("url", "/"))
    for name, variable in (first.get("variables") or {}).items():
        url = url.replace("{" + str(name) + "}", str((variable or {}).get("default", "")))
    if not urlsplit(url).scheme:
        if spec_url is None:
            raise OpenAPISpecError(
                f"the spec's server URL {url!r} is relative; load the spec from a URL or give "
                "it an absolute servers[0].url"
            )
        url = urljoin(spec_url, url)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise OpenAPISpecError(f"the spec's server URL {url!r} is not an http(s) URL")
    return url.rstrip("/")


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every GET operation of the spec, with its typed args model."""
    found: list[Operation] = []
    used: set[str] = set()
    # Every `$ref` becomes a lazy proxy of what it points to (jsonref), followed by `_deref`.
    resolved = jsonref.replace_refs(spec, loader=_no_other_documents, lazy_load=True)
    for path, raw_item in _deref(resolved["paths"]).items():
        item = _deref(raw_item)
        get = _deref(item.get("get")) if isinstance(item, dict) else None
        if not isinstance(get, dict):
            continue
        params = _merged_parameters(item.get("parameters"), get.get("parameters"))
        if any(p.get("required") and p.get("in") not in _SUPPORTED_LOCATIONS for p in params):
            continue  # needs a header/cookie parameter we cannot supply
        operation_id = str(get.get("operationId") or f"get_{path}")
        name = _unique(_tool_name(operation_id), used)
        found.append(_operation(operation_id, name, str(path), get, params))
    return found


def select(found: Sequence[Operation], chosen: Sequence[str]) -> list[Operation]:
    """The operations to offer the model: those whose operationId is in `chosen` (in that
    order; all when empty), at most `MAX_TOOLS`. What is left out is logged."""
    selected = list(found)
    if chosen:
        by_id = {op.operation_id: op for op in found} | {op.tool_name: op for op in found}
        unknown = [name for name in chosen if name not in by_id]
        if unknown:
            logger.warning("apisearch: APISEARCH_OPERATIONS names operations the spec has no "
                           "GET operation for: %s", ", ".join(unknown))
        selected = list({id(by_id[n]): by_id[n] for n in chosen if n in by_id}.values())
    if len(selected) > MAX_TOOLS:
        logger.warning(
            "apisearch: %d GET operations, but Azure OpenAI accepts at most %d tools per "
            "request; using the first %d. Choose them with APISEARCH_OPERATIONS "
            "(comma-separated operationIds).", len(selected), MAX_TOOLS, MAX_TOOLS)
        selected = selected[:MAX_TOOLS]
    return selected


def build_tools(
    spec: dict[str, Any], base_url: str, policy: OutboundPolicy, chosen: Sequence[str] = ()
) -> list[BaseTool]:
    """One async StructuredTool per selected GET operation, calling `base_url` under
    `policy` (see `select`)."""
    title = str((spec.get("info") or {}).get("title") or "API")
    return [_tool(op, base_url, policy, title) for op in select(operations(spec), chosen)]


def _tool(op: Operation, base_url: str, policy: OutboundPolicy, title: str) -> BaseTool:
    async def call(**kwargs: Any) -> str:
        return await call_operation(op, base_url, policy, title, kwargs)

    description = "\n".join(x for x in (op.summary, op.description) if x) or op.tool_name
    description = f"{description}\n(GET {op.path} on {title})"[:MAX_DESCRIPTION_CHARS]
    return StructuredTool.from_function(
        coroutine=call, name=op.tool_name, description=description, args_schema=op.args_schema
    )


async def call_operation(
    op: Operation, base_url: str, policy: OutboundPolicy, title: str, args: dict[str, Any]
) -> str:
    """Call the operation with validated `args`; the shared results JSON, or ToolException."""
    path = op.path
    query: dict[str, Any] = {}
    for param in op.parameters:
        value = args.get(param.field_name)
        if value is None:
            if param.location == "path":
                raise ToolException(f"missing required path parameter {param.name!r}")
            continue
        if param.location == "path":
            path = path.replace("{" + param.name + "}", encode_path_value(param.name, value))
        else:
            query[param.name] = value
    try:
        response = await fetch(
            "GET", base_url + path, policy, params=query or None,
            headers={"Accept": "application/json"},
        )
    except OutboundError as exc:
        raise ToolException(str(exc)) from exc
    body = response.text
    if response.status_code >= 400:
        raise ToolException(
            f"HTTP {response.status_code} from {response.url}: {body[:_ERROR_BODY_CHARS]}"
        )
    try:
        content = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        content = body
    truncated = len(content) > MAX_RESPONSE_CHARS
    result = SearchResult(
        title=f"{title}: {op.summary or op.tool_name}",
        source=response.url,
        content=content[:MAX_RESPONSE_CHARS] + (" …[truncated]" if truncated else ""),
    )
    return results_json([result], **({"truncated": True} if truncated else {}))


def _operation(
    operation_id: str, name: str, path: str, get: dict[str, Any], params: list[dict[str, Any]]
) -> Operation:
    fields: dict[str, Any] = {}
    parameters: list[Parameter] = []
    for param in params:
        location = str(param.get("in", ""))
        if location not in _SUPPORTED_LOCATIONS or not param.get("name"):
            continue
        field_name = _unique(_field_name(str(param["name"])), set(fields))
        required = bool(param.get("required")) or location == "path"
        schema = _as_dict(param.get("schema"))
        annotation = _python_type(schema)
        if location == "path":  # refused in the args model, before any call
            annotation = Annotated[annotation, AfterValidator(path_check(str(param["name"])))]
        description = str(param.get("description") or "")
        if field_name != param["name"]:
            description = f"(API parameter {param['name']!r}) {description}".strip()
        if required:
            fields[field_name] = (annotation, Field(description=description))
        else:
            fields[field_name] = (
                annotation | None,
                Field(default=None, description=_with_default(description, schema)),
            )
        parameters.append(Parameter(str(param["name"]), location, field_name, required))
    model = create_model(f"{name}_args", **fields)
    return Operation(
        operation_id=operation_id,
        tool_name=name,
        summary=str(get.get("summary") or "").strip(),
        description=str(get.get("description") or "").strip(),
        path=path,
        parameters=tuple(parameters),
        args_schema=model,
    )


def _with_default(description: str, schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return description
    return f"{description} (default: {json.dumps(schema['default'])})".strip()


def _python_type(schema: dict[str, Any], depth: int = 0) -> Any:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(
        isinstance(v, str | int | float | bool) for v in enum
    ):
        return Literal.__getitem__(tuple(enum))
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "array":
        if depth >= _MAX_ARRAY_DEPTH:  # a schema that refers to itself: the rest is untyped
            return list[Any]
        items = _as_dict(_deref(schema.get("items")))
        return list[_python_type(items, depth + 1)]  # type: ignore[misc]
    return _SCALARS.get(str(kind), str)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merged_parameters(*lists: Any) -> list[dict[str, Any]]:
    """Path-level then operation-level parameters; the later one wins for the same name+in."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for items in lists:
        for raw in _deref(items) or []:
            param = _deref(raw)
            if isinstance(param, dict):
                schema = _deref(param.get("schema"))
                param = {**param, "schema": schema if isinstance(schema, dict) else {}}
                merged[(str(param.get("name")), str(param.get("in")))] = param
    return list(merged.values())


def _deref(node: Any) -> Any:
    """`node`, or what its `$ref` points to (following chains); {} for a ref that points
    nowhere, into a loop, or into another document (only `#/...` refs of the spec itself are
    followed: nothing is fetched)."""
    try:
        for _ in range(_MAX_REF_CHAIN):
            if type(node) is not jsonref.JsonRef:
                return node
            node = node.__subject__
    except jsonref.JsonRefError:
        return {}
    return {}


def _no_other_documents(uri: str) -> Any:
    """jsonref's loader for `$ref`s into another document: refused, so nothing is fetched."""
    raise OpenAPISpecError(f"$ref to another document {uri!r} is not followed")


def _tool_name(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_") or "operation"
    return name[:MAX_TOOL_NAME]


def _field_name(raw: str) -> str:
    name = re.sub(r"\W+", "_", raw).strip("_") or "param"
    if name[0].isdigit() or keyword.iskeyword(name) or name.startswith("model_"):
        name = f"p_{name}"
    if hasattr(BaseModel, name):
        name = f"{name}_"
    return name


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        suffix = f"_{n}"
        candidate = name[: MAX_TOOL_NAME - len(suffix)] + suffix
        n += 1
    used.add(candidate)
    return candidate
