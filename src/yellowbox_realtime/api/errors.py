"""HTTP errors of the API, and how every error leaves it: ``{"error": {"code", "message"}}``.

The HTTP-only statuses are errors of the gateway's one hierarchy (``errors.py``). Whatever
escapes a handler becomes that JSON shape: a :class:`GatewayError` with its own status and
code, Starlette's routing errors (404, 405) with theirs, anything else a 500 whose message
says nothing about the server's insides (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import (
    AuthenticationError,
    BadRequest,
    GatewayError,
    IdempotencyConflict,
    NotFound,
    TooManyRequests,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)

__all__ = ["BadRequest", "IdempotencyConflict", "NotFound", "TooManyRequests",
           "UnsupportedMediaType",
           "error_body", "error_response", "handle_exception", "handle_http_exception"]


# Starlette's own errors (no route, wrong method) keep their status and get a stable code.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(error: GatewayError) -> JSONResponse:
    headers = {}
    if isinstance(error, AuthenticationError) and error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="yellowbox-realtime"'
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(error_body(error.code, error.message), status_code=error.http_status,
                        headers=headers)


async def handle_http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, exc.detail), status_code=exc.status_code,
                        headers=exc.headers)


async def handle_exception(request: Request, exc: Exception) -> Response:
    if isinstance(exc, GatewayError):
        return error_response(exc)
    log.exception("API request %s %s failed", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "the server could not handle the request"),
                        status_code=500)
