"""Every error the server answers is JSON with ``code`` and ``message`` (some Segment clients
crash on an error body without both), and the right status: the app's errors (handlers
below) and those of the HTTP server itself (:data:`HTTP_PROTOCOLS`, :func:`server_options`)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ApiError(Exception):
    """An error answered as ``status`` with ``{"code": code, "message": message}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def install_handlers(app: FastAPI) -> None:
    """Answer ApiError, validation errors, HTTP errors and crashes as ``code`` + ``message``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(
            error_body("invalid_request", message, errors=jsonable(exc.errors())),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("internal_error", f"{type(exc).__name__}: {exc}"), status_code=500
        )


def jsonable(value: Any) -> Any:
    """Validation error details made JSON-safe (they may hold bytes or exceptions)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# --- errors of the HTTP server itself -------------------------------------------------------
#
# A request too broken to reach the app (a bad request line, a header without ':', a bad
# Content-Length) is answered by uvicorn's protocol itself, as text/plain. These subclasses of
# its two HTTP/1.1 implementations answer it as JSON instead; the server is built with
# ``http=HTTP_PROTOCOLS["auto"]`` (see :func:`server_options`).

INVALID_HTTP = "invalid_http"


def protocol_error(message: str) -> bytes:
    """The JSON body of the server's own ``400``."""
    text = message.strip().rstrip(".") or "invalid HTTP request"
    return orjson.dumps(error_body(INVALID_HTTP, text[:1].lower() + text[1:]))


class JsonH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but its own ``400`` is JSON with ``code`` and ``message``."""

    def send_400_response(self, msg: str) -> None:
        body = protocol_error(msg)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, but its own ``400`` is JSON with ``code`` and ``message``."""

    def send_400_response(self, msg: str) -> None:
        body = protocol_error(msg)
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


HTTP_PROTOCOLS: dict[str, type[asyncio.Protocol]] = {
    "h11": JsonH11Protocol,
    "httptools": JsonHttpToolsProtocol,
    # What uvicorn's "auto" picks: httptools when it is installed (it is a dependency).
    "auto": JsonHttpToolsProtocol,
}


def server_options() -> dict[str, Any]:
    """What ``uvicorn.Config`` needs (with the app, host and port) so that every answer of
    the server is JSON: its own ``400`` (above), and no WebSocket support (the app has no
    WebSocket route; an upgrade request is then an ordinary request: a JSON ``404``)."""
    return {"http": HTTP_PROTOCOLS["auto"], "ws": "none"}
