"""Swagger UI at `/docs`, with its assets served from the `swagger-ui-bundle` package (no CDN,
so the docs work in private networks)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png"})


def assets_dir() -> Path:
    """Where the packaged Swagger UI files are."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(swagger_ui_path)


async def docs_page(request: Request) -> Response:
    """GET /docs: the Swagger UI page (FastAPI's), pointing at the packaged assets."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="Smart bot API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


async def docs_asset(request: Request) -> Response:
    """GET /docs/assets/{name}: one Swagger UI file (a fixed allow-list)."""
    name = str(request.path_params.get("name", ""))
    if name not in ASSETS:
        return JSONResponse({"detail": f"No docs asset named {name!r}."}, status_code=404)
    return FileResponse(assets_dir() / name, headers={"Cache-Control": "public, max-age=86400"})
