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
import threading
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


def serve_app(app: Any, *, host: str, port: int, log_level: str, stop_within: float) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                            access_log=False,
                            timeout_graceful_shutdown=max(1, int(stop_within / 2)))
    BoundedStopServer(config, stop_within).run()
