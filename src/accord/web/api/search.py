"""/api/v1/search: an officer's hit/no-hit search of the peers the agreements allow.

The route authenticates, checks ``search:query`` and hands the request to
:func:`accord.search.protocol.search_peers`, which asks the peers synchronously and
answers per identifier and per peer (``hit``, ``no-hit``, ``no-answer``, ``not-asked``,
``refused``). A refused or invalid request is audited after the rollback, as for messages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.errors import AccordError
from accord.search import protocol
from accord.search.schemas import SearchCreate, SearchResult
from accord.web.deps import NodeDep, require

router = APIRouter(prefix="/api/v1/search", tags=["search"])

SearchQuery = Annotated[Principal, Depends(require(Permission.SEARCH_QUERY))]


@router.post("", response_model=SearchResult)
def search(body: SearchCreate, node: NodeDep, principal: SearchQuery) -> SearchResult:
    """Search the peers: one identifier (``kind``, ``value`` [, ``dob``, ``nationality``,
    ``gender``, ``country``]) or ``items`` (at most 10,000). Each peer whose agreement grants
    ``hit-no-hit-search`` for the category and purpose is asked; the answer per peer is
    ``hit`` (with band, opaque reference and what a follow-up request needs), ``no-hit``,
    ``no-answer`` (not within the deadline — never read as no hit), ``not-asked`` (with the
    clause and reason) or ``refused`` (the peer's own policy)."""
    try:
        return protocol.search_peers(node, principal, body)
    except AccordError as exc:
        if exc.status < 500:
            with node.uow() as s:
                node.record_failure(s, actor=principal.actor, action=Action.SEARCH_FAILED,
                                    object="search:new", error=exc,
                                    credential=principal.audit_credential)
        raise
