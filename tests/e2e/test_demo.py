"""`accord demo` with real processes: three nodes answer, are pinned, and stop on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def free_port_block(count: int = 3) -> int:
    for base in range(20000 + (os.getpid() % 500) * 20, 60000, 7):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


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


def test_demo_federation_up_pinned_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "demo", "--base-dir", str(tmp_path / "demo"),
         "--first-port", str(port), "--json"],
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
        # A demo login works end to end (password + TOTP).
        import pyotp

        login = nodes[0]["logins"][0]
        r = httpx.post(nodes[0]["url"] + "/auth/login", timeout=10, json={
            "username": login["username"], "password": login["password"],
            "totp": pyotp.TOTP(login["totp_secret"]).now()})
        assert r.status_code == 200, r.text
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
