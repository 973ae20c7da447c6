"""Serving the app with uvicorn, stopped within a bound after SIGTERM or Ctrl-C.

Requests in flight get half of ``shutdown_seconds`` to finish (uvicorn's
graceful shutdown); then the lifespan stops the delivery worker and the
background tasks and signs a last checkpoint. Should any of that hang — a peer
that does not answer, a request thread stuck on the database — a watchdog
started by the first signal ends the process at the limit, logged. Every write
is transactional, so what had not committed is rolled back, never half-written;
the outbox retries what was in flight.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("accord.web")


class BoundedStopServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, stop_within: float) -> None:
        super().__init__(config)
        self.stop_within = stop_within
        self._watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Timer(self.stop_within, _force_exit, args=(self.stop_within,))
            self._watchdog.daemon = True
            self._watchdog.start()
        super().handle_exit(sig, frame)


def _force_exit(limit: float) -> None:
    log.error("the node did not stop within shutdown_seconds (%.0f s); exiting now, "
              "uncommitted work rolled back", limit)
    logging.shutdown()
    os._exit(1)


def serve_app(app: Any, *, host: str, port: int, log_level: str, stop_within: float,
              fd: int | None = None) -> None:
    """Serve ``app`` on ``host:port``, or on the listening socket ``fd`` handed down by
    :func:`serve_workers`."""
    config = uvicorn.Config(app, host=host, port=port, fd=fd, log_level=log_level.lower(),
                            access_log=False,
                            timeout_graceful_shutdown=max(1, int(stop_within / 2)))
    BoundedStopServer(config, stop_within).run()


def serve_workers(argv: list[str], *, host: str, port: int, workers: int,
                  stop_within: float) -> int:
    """Run ``workers`` server processes of this node on one listening socket.

    This process binds ``host:port`` and starts each worker as ``accord <argv> --fd N``
    (the same command line, the socket inherited); the kernel spreads the connections.
    Each worker is a whole node process — API, federation endpoint, delivery worker,
    peer refresher — on the one database (PostgreSQL: docs/operations.md). A worker
    that dies is started again (at most once a second); SIGTERM or Ctrl-C stops them
    all within ``stop_within`` (then they are killed). Returns the exit status.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    command = [sys.executable, "-m", "accord", *argv, "--fd", str(sock.fileno())]
    stopping = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    children: list[subprocess.Popen[bytes]] = []
    try:
        children = [subprocess.Popen(command, pass_fds=(sock.fileno(),))  # noqa: S603 - our own argv
                    for _ in range(workers)]
        log.info("serving on %s:%d with %d worker processes", host, port, workers)
        while not stopping.wait(0.5):
            for i, child in enumerate(children):
                if child.poll() is not None and not stopping.is_set():
                    log.error("worker process %d exited with %s; starting it again",
                              child.pid, child.returncode)
                    time.sleep(1.0)
                    children[i] = subprocess.Popen(command, pass_fds=(sock.fileno(),))  # noqa: S603
    except KeyboardInterrupt:
        stopping.set()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + stop_within + 2
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        sock.close()
    return 0
