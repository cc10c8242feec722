"""Swagger UI at `/docs`, with its assets served from the `swagger-ui-bundle` package (no CDN,
so the docs work in private networks)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png"})

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Smart bot API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
</script>
</body>
</html>
"""


def assets_dir() -> Path:
    """Where the packaged Swagger UI files are."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(swagger_ui_path)


async def docs_page(request: Request) -> Response:
    """GET /docs: the Swagger UI page."""
    return HTMLResponse(PAGE)


async def docs_asset(request: Request) -> Response:
    """GET /docs/assets/{name}: one Swagger UI file (a fixed allow-list)."""
    name = str(request.path_params.get("name", ""))
    if name not in ASSETS:
        return JSONResponse({"detail": f"No docs asset named {name!r}."}, status_code=404)
    path = assets_dir() / name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(path.read_bytes(), media_type=media_type,
                    headers={"Cache-Control": "public, max-age=86400"})
