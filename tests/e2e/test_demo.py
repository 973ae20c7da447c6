"""`accord demo` with real processes: three nodes answer, are pinned, and stop on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accord.demo import free_port_block

pytestmark = pytest.mark.e2e



def read_json_document(proc: subprocess.Popen[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    buf = ""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited early: {proc.returncode}")
            continue
        buf += line
        try:
            return json.loads(buf)
        except json.JSONDecodeError:
            continue
    raise AssertionError("demo did not print its JSON in time")


def login(node: dict, username: str) -> dict[str, str]:
    import pyotp

    lg = next(x for x in node["logins"] if x["username"] == username)
    r = httpx.post(node["url"] + "/auth/login", timeout=10, json={
        "username": lg["username"], "password": lg["password"],
        "totp": pyotp.TOTP(lg["totp_secret"]).now()})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def check_scenario_filled(base: Path, es: dict) -> None:
    """Issue 3: the nodes hold the scenario; refusals and clearance show with reasons."""
    headers = login(es, "es.officer")  # clearance H2
    listing = httpx.get(es["url"] + "/api/v1/records", headers=headers, timeout=10)
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] > 100
    # The scenario leaves Spain–Morocco without account data: deny, with the reason.
    r = httpx.get(es["url"] + "/api/v1/policy/explain", headers=headers, timeout=10, params={
        "from": "ES-PN", "to": "MA-DGSN", "action": "message", "categories": "person,account",
        "crime_area": "0601", "handling": "H1", "purpose": "investigation"})
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert decision["allowed"] is False and decision["code"] == "category-not-granted"
    assert "account" in decision["reason"]
    r = httpx.get(es["url"] + "/api/v1/policy/explain", headers=headers, timeout=10, params={
        "from": "ES-PN", "to": "FR-PN", "action": "message", "categories": "person,account",
        "crime_area": "0601", "handling": "H1", "purpose": "investigation"})
    assert r.json()["decision"]["allowed"] is True and r.json()["decision"]["basis"]["clause_id"]
    # A record above the officer's clearance: 403 naming the reason.
    h3 = None
    for line in (base / "scenario" / "records" / "ES.ftm.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        if doc["meta"]["handling"] == "H3" and doc["meta"]["retention_until"] > "2027":
            h3 = doc["entity"]["id"]
            break
    assert h3 is not None
    r = httpx.get(f"{es['url']}/api/v1/records/{h3}", headers=headers, timeout=10)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["reason"] == "clearance-too-low" and r.json()["handling"] == "H3"
    analyst = login(es, "es.analyst")  # clearance H3 reads it
    assert httpx.get(f"{es['url']}/api/v1/records/{h3}", headers=analyst, timeout=10).status_code == 200


def test_demo_federation_up_pinned_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port_block(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "demo", "--base-dir", str(tmp_path / "demo"),
         "--first-port", str(port), "--persons", "300", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        doc = read_json_document(proc, timeout=120)
        nodes = doc["nodes"]
        assert [n["country"] for n in nodes] == ["ES", "FR", "MA"]
        ids = {n["node_id"] for n in nodes}
        for n in nodes:
            assert n["url"] == f"http://127.0.0.1:{port + nodes.index(n)}"
            health = httpx.get(n["url"] + "/healthz", timeout=10).json()
            assert health["status"] == "ok" and health["node_id"] == n["node_id"]
            desc = httpx.get(n["url"] + "/federation/v1/node", timeout=10).json()
            assert len(desc["agencies"]) == 2
            assert {p["node_id"] for p in desc["peers"]} == ids - {n["node_id"]}
            # The fingerprints each node pinned are its peers' real ones.
            for p in desc["peers"]:
                other = next(o for o in nodes if o["node_id"] == p["node_id"])
                real = httpx.get(other["url"] + "/federation/v1/node", timeout=10).json()["fingerprint"]
                assert p["fingerprint"] == real
            assert len(n["logins"]) >= 3 and all(lg["totp_secret"] for lg in n["logins"])
        check_scenario_filled(tmp_path / "demo", nodes[0])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    for i in range(3):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port + i}/healthz", timeout=2)
