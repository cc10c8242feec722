"""Checks SSE events against the `/stream` event schemas of the OpenAPI document a server
serves (each event's envelope, and the JSON data of each event type against its
`contentSchema`)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A validator for `schema` whose `#/components/...` references resolve in `document`."""
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


def stream_schema(document: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The validator of one `/stream` event, and each event type's data schema (or None)."""
    content = document["paths"]["/stream"]["post"]["responses"]["200"]["content"]
    assert content.keys() == {"text/event-stream"}
    schema = content["text/event-stream"]["schema"]
    data_schemas = {}
    for option in schema["oneOf"]:
        data = option["properties"]["data"]
        for name in option["properties"]["event"]["enum"]:
            data_schemas[name] = data.get("contentSchema")
    return validator(document, schema), data_schemas


def check_events(document: dict[str, Any], events: list[dict[str, str]]) -> None:
    """Assert that every event (`event`, `data`, `id`) is one the document describes."""
    envelope, data_schemas = stream_schema(document)
    for event in events:
        assert envelope.is_valid(event), event
        content_schema = data_schemas[event["event"]]
        if content_schema is not None:
            data = json.loads(event["data"])
            errors = [e.message for e in validator(document, content_schema).iter_errors(data)]
            assert not errors, (event, errors)
