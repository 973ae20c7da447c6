"""schemathesis holds a real node process to its own OpenAPI document (issue 7, finding 7).

One ES node (``accord serve`` on a free loopback port, SQLite) is started for the
module. For an admin and for an officer (bearer tokens from real logins),
schemathesis generates requests for every operation of the document — valid and
invalid ones, about 25 examples each plus the boundary values of the coverage
phase — and checks every answer: no server error, the status code is documented,
the content type is the documented one, and the body matches the documented
schema (problem documents included).

Left out, each for a reason that is not a weakness of the route:

- ``POST /auth/logout`` would end the session the run uses;
- ``POST /api/v1/keys/rotate`` would rotate the node's keys under the run;
- ``POST /api/v1/peers`` fetches the URL it is given, which would be a host off
  this machine;
- ``GET /api/v1/messages/stream`` is an open event stream that ends only when
  events arrive or the client leaves (tests/e2e/test_exchange.py covers it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accord.auth import secrets as sec
from accord.demo import DemoNode, free_port_block, start_federation, stop_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agreements"
EXCLUDED = [("POST", "/auth/logout"), ("POST", "/api/v1/keys/rotate"), ("POST", "/api/v1/peers"),
            ("GET", "/api/v1/messages/stream")]
ADMIN = "es.admin"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def es_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    base = tmp_path_factory.mktemp("schemathesis")
    [dn] = start_federation(base, ["ES"], first_port=free_port_block(1), agreements=EXAMPLES,
                            say=lambda _m: None)
    try:
        yield dn
    finally:
        stop_all([dn])


def bearer(dn: DemoNode, username: str) -> str:
    login = next(x for x in dn.logins if x.username == username)
    r = httpx.post(dn.url + "/auth/login", timeout=30, json={
        "username": username, "password": login.password,
        "totp": sec.totp_now(login.totp_secret, time.time())})
    r.raise_for_status()
    return str(r.json()["token"])


def load_schema(dn: DemoNode, token: str) -> Any:
    """The node's document as served, requests sent with the bearer ``token``."""
    config = schemathesis.Config.from_dict({
        "base-url": dn.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "request-timeout": 30,
    })
    schema = schemathesis.openapi.from_url(dn.url + "/api/v1/openapi.json", config=config,
                                           timeout=30)
    for method, path in EXCLUDED:
        schema = schema.exclude(method=method, path=path)
    return schema


def exercise(operation: Any, mode: GenerationMode) -> None:
    """About 25 generated requests to one operation, each answer checked."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # No input of this operation can be made invalid (no body, no bounded parameter).
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize("username", [ADMIN, "es.officer"])
def test_the_node_keeps_to_its_openapi_document(es_node: DemoNode, username: str,
                                                subtests: pytest.Subtests) -> None:
    # schemathesis' own pytest integration (from_fixture) does not run under pytest 9.2,
    # so each operation is a subtest here, with schemathesis' strategies and checks.
    token = bearer(es_node, username)
    schema = load_schema(es_node, token)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    if username != ADMIN:  # the routes without credentials are the same for everyone: once
        operations = [op for op in operations if op.definition.raw.get("security")]
    me = {"Authorization": f"Bearer {token}"}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(operation=operation.label, mode=mode.value):
                exercise(operation, mode)
                # Every later operation would only see 401s, and pass without being tested.
                r = httpx.get(es_node.url + "/api/v1/me", headers=me, timeout=30)
                assert r.status_code == 200, f"{operation.label} ended the run's session: {r.text}"
