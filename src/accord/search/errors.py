"""Errors of hit/no-hit search.

::

    AccordError
    └── NotFound                 404
        └── ReferenceInvalid     404 search-reference-invalid

A refused or failed query envelope raises the exchange's envelope errors
(:class:`~accord.exchange.errors.EnvelopeReplayed`, ``PayloadInvalid``,
``ReceiverPolicyDenied`` and those of :mod:`accord.crypto.envelope`), so a peer reads the
same ``reason`` for a query as for a message.
"""

from __future__ import annotations

from accord.errors import NotFound

__all__ = ["ReferenceInvalid"]


class ReferenceInvalid(NotFound):
    """A hit reference this node did not issue, or not to this agency."""

    slug = "search-reference-invalid"
    title = "Unknown search reference"
