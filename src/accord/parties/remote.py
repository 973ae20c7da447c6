"""Fetching a peer's signed node descriptor over HTTP (the one place that does it).

What comes back is unchecked: callers verify it against the pinned fingerprint
(:func:`accord.parties.services.verify_descriptor`).
"""

from __future__ import annotations

from typing import Any

import httpx

from accord.errors import PeerError

__all__ = ["fetch_descriptor"]


def fetch_descriptor(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """GET a JSON object from ``url``; raise :class:`PeerError` on any failure."""
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PeerError(f"cannot fetch {url}: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise PeerError(f"{url} did not answer with a JSON object")
    return data
