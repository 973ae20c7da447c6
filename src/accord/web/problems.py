"""RFC 9457 problem documents: the one place errors become HTTP."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.agreements import Handling
from accord.db import is_busy
from accord.errors import PROBLEM_BASE, AccordError, WriterBusy

log = logging.getLogger("accord.web")
PROBLEM_JSON = "application/problem+json"


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """An absent extension member is left out, never sent as null: no ``default: null``."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None:
            del prop["default"]


class Problem(BaseModel):
    """An RFC 9457 problem document: how every error of this API is sent.

    ``type`` ends with the problem's slug (``…/problems/not-found``). Besides the
    standard members a problem may carry extension members; the common ones are
    listed, others may appear (``additionalProperties``). The OpenAPI document
    (:mod:`accord.web.openapi`) names this schema for every error response.
    """

    model_config = ConfigDict(extra="allow", title="Problem",
                              json_schema_extra=_no_null_defaults)

    type: str = Field(description="the problem type, a URI ending with its slug",
                      examples=[PROBLEM_BASE + "not-found"])
    title: str = Field(description="short summary of the problem type")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what went wrong, for a person")
    instance: str | SkipJsonSchema[None] = Field(default=None, description="the request path")
    errors: list[dict[str, Any]] | SkipJsonSchema[None] = Field(
        default=None, description="each input that failed: {loc, msg, type} for a request that "
        "does not match this document, {field, message} for a record")
    field: str | SkipJsonSchema[None] = Field(default=None, description="the input at fault")
    reason: str | SkipJsonSchema[None] = Field(
        default=None, description="machine-readable cause (policy, records, envelopes)")
    basis: dict[str, Any] | None = Field(
        default=None, description="policy-denied: the agreement clause that decided, if any")
    permission: str | SkipJsonSchema[None] = Field(
        default=None, description="forbidden: the permission the roles lack")
    handling: Handling | SkipJsonSchema[None] = Field(
        default=None, description="clearance-too-low: the handling code asked for")
    clearance: Handling | SkipJsonSchema[None] = Field(
        default=None, description="clearance-too-low: the officer's clearance")
    retry_after: int | SkipJsonSchema[None] = Field(
        default=None, description="503: seconds after which to retry")


def problem(status: int, slug: str, title: str, detail: str, instance: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {
        "type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AccordError)
    async def _accord(request: Request, exc: AccordError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.detail)
        doc = exc.to_problem(instance=request.url.path)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503 and "retry_after" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retry_after"])}
        return JSONResponse(doc, status_code=exc.status, media_type=PROBLEM_JSON, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem(422, "validation", "Validation failed",
                       f"{len(errors)} field(s) failed validation", request.url.path,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "http")
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_busy(exc):  # no connection or lock in time: busy, not broken
            log.error("database busy on %s: %s", request.url.path, type(exc).__name__)
            return await _accord(request, WriterBusy(
                "the database is busy; retry later", retry_after=1))
        # Log the type only: exception text may carry personal data or secrets.
        log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
        return problem(500, "internal", "Internal error",
                       "the node could not complete the request; it was logged",
                       request.url.path)
