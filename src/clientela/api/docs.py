"""Swagger UI at ``/docs``, served entirely by the app (no CDN): the JavaScript, CSS and
icon come from the ``swagger_ui_bundle`` package under ``/docs/assets/``.

That package's Swagger UI (4.x) reads OpenAPI 3.0 only, while FastAPI writes 3.1, so the
page loads ``/docs/openapi-3.0.json``: the same document written the 3.0 way (nullable
instead of a null type, enum instead of const). ``/openapi.json`` stays the 3.1 original.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from clientela.api.errors import ApiError

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

router = APIRouter(include_in_schema=False)


def assets_folder() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}/docs/openapi-3.0.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png",
        # validatorUrl None: no badge fetched from validator.swagger.io.
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
    )


@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return FileResponse(
        assets_folder() / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/docs/openapi-3.0.json")
def openapi_30(request: Request) -> JSONResponse:
    return JSONResponse(as_openapi_30(request.app.openapi()))


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.1 document as FastAPI writes it, rewritten for OpenAPI 3.0 readers."""
    out = _schema_30(document)
    assert isinstance(out, dict)
    out["openapi"] = "3.0.3"
    return out


# Keys whose value maps names to objects: a property called "type" is not a type.
MAPS = ("properties", "patternProperties", "schemas", "$defs", "paths", "responses", "content")


def _schema_30(node: Any, is_map: bool = False) -> Any:
    if isinstance(node, list):
        return [_schema_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schema_30(value, is_map=key in MAPS) for key, value in node.items()}
    if is_map:
        return out
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del out[key]
            if len(rest) == 1 and "$ref" not in rest[0]:
                out = {**rest[0], **out}
            elif rest:
                out[key if len(rest) > 1 else "allOf"] = rest
            out["nullable"] = True
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        if len(types) < len(out["type"]):
            out["nullable"] = True
        out["type"] = types[0] if len(types) == 1 else out["type"]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out
