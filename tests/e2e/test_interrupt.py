"""Ctrl-C at every step of start-up: the command stops, quietly, and leaves nothing running.

``accord serve`` and ``accord demo`` get SIGINT at moments spread over their
start-up — while modules load, while keys unseal, while nodes are created,
started and pinned, and once they run. Each must exit within a bound, print no
traceback, and (the demo) leave no node process behind. Besides moments in time
(which step they fall in depends on the machine's speed), the demo is also
interrupted right after it announces each step: preparing each node, installing
the sample agreements, starting each node process, pinning, and running.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accord.demo import free_port_block
from accord.lifecycle import AgencySpec, init_node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXIT_WITHIN = 20.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}


def _interrupt(args: list[str], delay: float, cwd: Path) -> tuple[int, str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", *args], cwd=cwd, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(delay)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"still running 60 s after SIGINT at {delay} s:\n"
                             f"{out.decode(errors='replace')[-2000:]}") from None
    return proc.returncode, out.decode(errors="replace"), time.monotonic() - started


def _interrupt_after(args: list[str], marker: str, cwd: Path) -> tuple[int, str, float]:
    """SIGINT as soon as the command's output shows ``marker``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord", *args], cwd=cwd, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    seen, deadline = b"", time.monotonic() + 180
    try:
        while marker.encode() not in seen:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"{marker!r} not printed (exit {proc.poll()}):\n"
                                     f"{seen.decode(errors='replace')[-2000:]}")
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"still running 60 s after SIGINT at {marker!r}:\n"
                             f"{(seen + out).decode(errors='replace')[-2000:]}") from None
    return proc.returncode, (seen + out).decode(errors="replace"), time.monotonic() - started


def _processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (node processes of the demo)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.0, 2.0, 3.5, 6.0])
def test_ctrl_c_while_serve_starts(tmp_path: Path, delay: float) -> None:
    data = tmp_path / "es"
    init_node(data, node_id="es-node", country="ES", mode="development",
              agencies=[AgencySpec("ES-PN", "Policía Nacional", "police")],
              port=free_port_block(1))
    code, out, took = _interrupt(["--data-dir", str(data), "serve"], delay, tmp_path)
    assert "Traceback" not in out, out[-3000:]
    assert took <= EXIT_WITHIN, f"{took:.1f} s to stop"
    assert code in (0, 1, 130, -signal.SIGINT), out[-2000:]  # -2: ended by the re-raised SIGINT


@pytest.mark.parametrize("delay", [0.3, 3.0, 8.0, 14.0])
def test_ctrl_c_while_the_demo_starts(tmp_path: Path, delay: float) -> None:
    base = tmp_path / "demo"
    port = free_port_block(2)
    code, out, took = _interrupt(
        ["demo", "--no-scenario", "--countries", "ES,FR", "--base-dir", str(base),
         "--first-port", str(port)], delay, tmp_path)
    assert "Traceback" not in out, out[-3000:]
    assert took <= EXIT_WITHIN, f"{took:.1f} s to stop"
    assert code in (0, 1, 130, -signal.SIGINT), out[-2000:]  # -2: ended by the re-raised SIGINT
    deadline = time.monotonic() + 10
    while _processes_under(base) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(base) == []
    # a node folder is either complete (it has its logins) or absent: never half-made
    for node_dir in base.glob("*-node"):
        assert (node_dir / "demo-logins.txt").exists(), sorted(p.name for p in node_dir.iterdir())


def _assert_demo_left_nothing(base: Path, code: int, out: str, took: float) -> None:
    assert "Traceback" not in out, out[-3000:]
    assert took <= EXIT_WITHIN, f"{took:.1f} s to stop"
    assert code in (0, 1, 130, -signal.SIGINT), out[-2000:]  # -2: ended by the re-raised SIGINT
    deadline = time.monotonic() + 10
    while _processes_under(base) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(base) == []
    for node_dir in base.glob("*-node"):
        assert (node_dir / "demo-logins.txt").exists(), sorted(p.name for p in node_dir.iterdir())


@pytest.mark.parametrize("marker", [
    "preparing ES node", "preparing FR node", "installed the sample agreements",
    "starting es-node", "starting fr-node", "pinning peers", "Federation running.",
])
def test_ctrl_c_after_each_step_of_the_demo_start(tmp_path: Path, marker: str) -> None:
    base = tmp_path / "demo"
    port = free_port_block(2)
    code, out, took = _interrupt_after(
        ["demo", "--no-scenario", "--countries", "ES,FR", "--base-dir", str(base),
         "--first-port", str(port)], marker, tmp_path)
    _assert_demo_left_nothing(base, code, out, took)
    if marker == "Federation running." and code == 0:  # 130: Ctrl-C came before the handler
        assert "all nodes stopped." in out
