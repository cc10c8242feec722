"""`/docs`, `/openapi.json` and `/`: the spec is complete and Swagger UI needs no CDN."""

from __future__ import annotations

import re

import requests

from standins.processes import LiveServer


def test_docs_page_loads_only_local_assets(offline_server: LiveServer) -> None:
    page = requests.get(f"{offline_server.url}/docs", timeout=10)
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(ref.startswith("/docs/assets/") for ref in refs)
    for ref in refs:
        asset = requests.get(f"{offline_server.url}{ref}", timeout=10)
        assert asset.status_code == 200 and len(asset.content) > 100
    assert requests.get(f"{offline_server.url}/docs/assets/..%2Fsecret", timeout=10
                        ).status_code == 404


def test_openapi_documents_models_and_examples(offline_server: LiveServer) -> None:
    spec = requests.get(f"{offline_server.url}/openapi.json", timeout=10).json()
    paths = spec["paths"]
    assert set(paths) == {"/invoke", "/stream", "/batch", "/threads", "/threads/{thread_id}",
                          "/threads/{thread_id}/runs/{run_id}/feedback",
                          "/threads/{thread_id}/runs/{run_id}/stream",
                          "/threads/{thread_id}/runs/{run_id}/cancel", "/health",
                          "/v1/chat/completions", "/v1/models", "/mcp", "/ag-ui"}
    for path in ("/v1/chat/completions", "/mcp", "/ag-ui"):  # the protocols need the key too
        assert paths[path]["post"]["security"] == [{"functionKey": []}]
    assert set(paths["/threads/{thread_id}"]) == {"get", "patch", "delete"}
    schemas = spec["components"]["schemas"]
    assert {"InvokeRequest", "InvokeResponse", "BatchRequest", "BatchResponse", "ThreadOut",
            "ErrorResponse"} <= set(schemas)
    assert schemas["InvokeRequest"]["examples"][0]["user_input"]
    body = paths["/invoke"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/InvokeRequest"}
    assert "text/event-stream" in paths["/stream"]["post"]["responses"]["200"]["content"]
    assert paths["/invoke"]["post"]["security"] == [{"functionKey": []}]
    assert "security" not in paths["/health"]["get"]


def test_root_redirects_to_docs(offline_server: LiveServer) -> None:
    resp = requests.get(offline_server.url, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 307) and resp.headers["location"] == "/docs"
