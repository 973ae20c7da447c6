"""The published JSON Schema (``accord/data/agreement.schema.json``) and its checks.

The schema covers shape: required keys, unknown keys, types, enumerations and
patterns. Rules that need reference data or several fields (countries, ICCS
codes, languages, dates, versions) are in :mod:`accord.agreements.validate`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from accord.agreements.source import Document, Issue

__all__ = ["agreement_schema", "schema_issues"]


@cache
def _schema_text() -> str:
    return resources.files("accord").joinpath("data/agreement.schema.json").read_text("utf-8")


def agreement_schema() -> dict[str, Any]:
    """A fresh copy of the published JSON Schema."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = agreement_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_of(error: ValidationError) -> dict[str, Any]:
    schema = error.schema
    return dict(schema) if isinstance(schema, Mapping) else {}


def _message(error: ValidationError) -> tuple[str, str]:
    """(code, human message) for one schema error."""
    kind = error.validator
    value: Any = error.validator_value
    if kind == "required":
        return "missing-key", error.message.replace("is a required property", "is required")
    if kind == "enum":
        allowed = ", ".join(str(v) for v in value)
        return "bad-value", f"{error.instance!r} is not one of: {allowed}"
    if kind == "type":
        return "bad-type", f"{error.instance!r} should be of type {value}"
    if kind == "pattern":
        description = _schema_of(error).get("description")
        message = f"{error.instance!r} has the wrong format"
        if description:
            message += f" (expected {description})"
        code = "bad-duration" if value == _duration_pattern() else "bad-format"
        return code, message
    if kind == "uniqueItems":
        return "duplicate-item", "items must not repeat"
    if kind in ("minItems", "minProperties", "minLength"):
        return "empty", "must not be empty"
    return "schema", error.message


@cache
def _duration_pattern() -> str:
    pattern: str = agreement_schema()["$defs"]["duration"]["pattern"]
    return pattern


def _leaf(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf, the most relevant sub-error."""
    if error.context:
        best: ValidationError | None = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return best
    return error


def schema_issues(doc: Document) -> list[Issue]:
    """Every shape problem of one document, each with its line and field."""
    issues: list[Issue] = []
    for error in _validator().iter_errors(doc.data):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(_schema_of(error).get("properties", {}))
            for key in error.instance:
                if key not in known:
                    issues.append(doc.issue((*path, key), "unknown-key", f"unknown key {key!r}", key=True))
            continue
        if error.validator == "oneOf" and isinstance(error.instance, str):
            # a deadline given as text that is not a duration
            issues.append(doc.issue(path, "bad-duration", f"{error.instance!r} is not an ISO 8601 duration"))
            continue
        leaf = _leaf(error)
        code, message = _message(leaf)
        issues.append(doc.issue(tuple(leaf.absolute_path), code, message))
    return issues
