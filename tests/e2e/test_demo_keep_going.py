"""`accord demo --keep-going` with real processes: a fault drill.

One node process is killed: the demo says so, with the exact command that starts it again,
and the other nodes keep answering. The operator runs that command: the node answers again
and the demo notices. Ctrl-C then stops the demo's nodes, and nothing is left running.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from accord.demo import free_port_block
from tests.e2e.test_interrupt import _processes_under

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


class Output:
    """The demo's output, read line by line in a thread (so reading never blocks a test)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        """Everything so far, whitespace (and so line wrapping) collapsed."""
        with self._lock:
            return " ".join(" ".join(self.lines).split())

    def wait_for(self, start: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if line.startswith(start):
                        return line
            time.sleep(0.1)
        raise AssertionError(f"no line starting {start!r} within {timeout:.0f} s:\n"
                             + "\n".join(self.lines[-40:]))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_keep_going_keeps_the_others_running_and_says_how_to_restart(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    port = free_port_block(3)
    urls = {f"{c}-node": f"http://127.0.0.1:{port + i}" for i, c in enumerate(["es", "fr", "ma"])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "demo", "--no-scenario", "--keep-going",
         "--base-dir", str(base), "--first-port", str(port)],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    out = Output(proc)
    by_hand: subprocess.Popen[bytes] | None = None
    try:
        out.wait_for("Federation running.", timeout=180)
        assert _wait(lambda: out.text().endswith("Press Ctrl-C to stop."), timeout=10)
        assert all(_healthy(url) for url in urls.values())

        (fr,) = [line for line in _processes_under(base / "fr-node") if " serve" in line]
        os.kill(int(fr.split(":", 1)[0]), signal.SIGKILL)

        line = out.wait_for("fr-node stopped", timeout=20)
        prefix = "fr-node stopped (exit -9); the other nodes keep running. Restart it by hand with: "
        assert line.startswith(prefix), line
        command = line[len(prefix):].split(" (the demo's log of it: ")[0]
        assert shlex.split(command) == [sys.executable, "-m", "accord", "--data-dir",
                                        str(base / "fr-node"), "serve"]
        time.sleep(2)  # the demo did not stop the others
        assert proc.poll() is None
        assert _healthy(urls["es-node"]) and _healthy(urls["ma-node"])
        assert not _healthy(urls["fr-node"])

        # the drill: the operator restarts the node with the command printed
        by_hand = subprocess.Popen(shlex.split(command), cwd=tmp_path, env=_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        assert _wait(lambda: _healthy(urls["fr-node"]), timeout=60)
        out.wait_for("fr-node answers again", timeout=20)
        by_hand.send_signal(signal.SIGINT)
        assert by_hand.wait(timeout=30) is not None
        out.wait_for("fr-node stopped again", timeout=20)
        assert _healthy(urls["es-node"]) and _healthy(urls["ma-node"])
    finally:
        if by_hand is not None and by_hand.poll() is None:
            by_hand.kill()
            by_hand.wait()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert code == 0, "\n".join(out.lines[-20:])
    out.wait_for("all nodes stopped.", timeout=5)
    assert _wait(lambda: _processes_under(base) == [], timeout=10), _processes_under(base)
    assert not any(_healthy(url) for url in urls.values())


def test_without_keep_going_one_node_stopping_stops_the_demo(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    port = free_port_block(2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", "demo", "--no-scenario", "--countries", "ES,FR",
         "--base-dir", str(base), "--first-port", str(port)],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    out = Output(proc)
    try:
        out.wait_for("Federation running.", timeout=180)
        (fr,) = [line for line in _processes_under(base / "fr-node") if " serve" in line]
        os.kill(int(fr.split(":", 1)[0]), signal.SIGKILL)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out.wait_for("fr-node stopped unexpectedly (exit -9)", timeout=5)
    assert _wait(lambda: _processes_under(base) == [], timeout=10), _processes_under(base)
