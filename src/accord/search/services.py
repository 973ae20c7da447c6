"""Use case: an officer searches their own node's index (``accord search local``).

The local search shows the officer the records of this node that match, so it is a
read of personal data and is audited like one (the pattern of
:func:`accord.records.services.list_records`): one ``search:query:local`` entry says
who searched, for what purpose, the kind of query, how many hits were shown and
withheld and their references — never the query's value or a record's content —
and each record shown gets its own ``records:record:read`` entry (``via: search``).

What the officer sees follows the records' visibility rules: a record handled above
their clearance, or a record owned in another country, is withheld (counted, not
shown); alerts are shown within the officer's clearance. The cross-border question
is the hit/no-hit protocol's (:mod:`accord.search.protocol`), not this one's.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.agreements import Handling, Purpose
from accord.audit.services import EntryIn
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.errors import ValidationFailed
from accord.records.domain import Reader
from accord.search.index import SEARCHED_LOCAL, IndexHit, Query, SearchContext, search_local

__all__ = ["LocalResult", "search_as_officer"]


@dataclass(frozen=True)
class LocalResult:
    hits: list[IndexHit]
    withheld: int


def _visible(reader: Reader, hit: IndexHit) -> bool:
    if not reader.covers(Handling(hit.handling)):
        return False
    return hit.source != "record" or reader.country is None or hit.owner[:2] == reader.country


def search_as_officer(node: Node, query: Query, *, reader: Reader, purpose: str,
                      limit: int = 10, where: str | None = None) -> LocalResult:
    """Search this node's records and alerts for ``reader``; audited (see the module docstring)."""
    try:
        why = Purpose(purpose).value
    except ValueError:
        raise ValidationFailed(f"purpose {purpose!r} is not one of "
                               f"{', '.join(p.value for p in Purpose)}", field="purpose") from None
    with node.uow() as s:
        now = node.now()
        context = SearchContext(agency=reader.agency_id or "", officer=reader.actor, purpose=why,
                                at=now, where=where)
        hits = search_local(node, s, query, limit=limit, context=context)
        shown = [h for h in hits if _visible(reader, h)]
        withheld = len(hits) - len(shown)
        entries = [EntryIn(actor=reader.actor, action=SEARCHED_LOCAL, object="search:index",
                           purpose=why, outcome="ok", credential=reader.credential,
                           detail={"kind": query.kind, "returned": len(shown),
                                   "withheld": withheld,
                                   "hits": [{"source": h.source, "ref": h.ref, "band": h.band}
                                            for h in shown]})]
        entries += [EntryIn(actor=reader.actor, action=Action.RECORD_READ, object=f"record:{h.ref}",
                            purpose=why, outcome="ok", credential=reader.credential,
                            detail={"owner": h.owner, "handling": h.handling, "via": "search",
                                    "band": h.band})
                    for h in shown if h.source == "record"]
        node.audit.append_many(s, entries, at=now)
    return LocalResult(shown, withheld)
