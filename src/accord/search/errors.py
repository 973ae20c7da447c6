"""Errors of hit/no-hit search.

::

    AccordError
    ├── NotFound                 404
    │   └── ReferenceInvalid     404 search-reference-invalid
    └── EnvelopeRejected         400 (accord.crypto.envelope)
        └── LinkageRefused       409 search-linkage-refused, reason:
                                     linkage-key-missing, linkage-key-mismatch,
                                     linkage-index-not-ready, search-mode-mismatch

A refused or failed query envelope raises the exchange's envelope errors
(:class:`~accord.exchange.errors.EnvelopeReplayed`, ``PayloadInvalid``,
``ReceiverPolicyDenied`` and those of :mod:`accord.crypto.envelope`), so a peer reads the
same ``reason`` for a query as for a message.
"""

from __future__ import annotations

from typing import Final

from accord.crypto.envelope import EnvelopeRejected
from accord.errors import NotFound

__all__ = ["REFUSAL_REASONS", "LinkageRefused", "ReferenceInvalid"]


class ReferenceInvalid(NotFound):
    """A hit reference this node did not issue, or not to this agency."""

    slug = "search-reference-invalid"
    title = "Unknown search reference"


class LinkageRefused(EnvelopeRejected):
    """A query the answering node will not search: the privacy-preserving mode does not fit.

    ``reason``: ``linkage-key-missing`` (no linkage key held for the agreement),
    ``linkage-key-mismatch`` (the query's key id is not one held: the parties' secrets or
    epochs differ), ``linkage-index-not-ready`` (the key is held but the index is not yet
    encoded under it — answering would say "no hit" for records not encoded yet),
    ``search-mode-mismatch`` (a clear query under a clause that demands the privacy mode).
    """

    status = 409
    slug = "search-linkage-refused"
    title = "Privacy-preserving search refused"
    default_reason = "linkage-key-missing"


#: Problem reasons a querying node shows as "refused" by that peer (not "no answer").
REFUSAL_REASONS: Final = frozenset({"policy-denied", "linkage-key-missing", "linkage-key-mismatch",
                                    "linkage-index-not-ready", "search-mode-mismatch"})
