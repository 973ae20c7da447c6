"""Alert subjects in the node's search index (:mod:`accord.search.index`).

Every active alert a node holds — issued here or received — has its subject
filed in the search index under ``source="alert"``, ``ref=<alert id>``: a search
with ``sources`` including ``alert`` meets it exactly as it meets a record (same
match keys, same person matcher, same bands). A node holds one index entry per
alert even when several of its agencies received it; the entry goes when no
active copy is left.

:func:`queries_for` turns an FtM entity (a new or changed record) into the
index queries that would find an alert on the same person, vehicle or
document: the person fields the matcher scores, and every match key the index
would file the entity under (document numbers, plates with their country, VINs,
phones, e-mail addresses, IBANs, wallets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.alerts.domain import AlertState
from accord.alerts.models import Alert
from accord.bootstrap import Node

__all__ = ["index_subject", "queries_for", "unindex_subject"]


def index_subject(node: Node, s: Session, alert: Alert) -> None:
    """File the alert's subject in the search index (idempotent per alert id)."""
    from accord.search.index import index_entity

    index_entity(node, s, source="alert", ref=alert.alert_id, owner=alert.holder,
                 handling=alert.handling, entity=alert.subject)


def unindex_subject(node: Node, s: Session, alert_id: str) -> bool:
    """Remove the alert's subject from the index unless an active copy is left; True if removed."""
    from accord.search.index import remove_entity

    s.flush()
    left = s.scalar(select(func.count()).select_from(Alert).where(
        Alert.alert_id == alert_id, Alert.state == AlertState.ACTIVE.value)) or 0
    if left:
        return False
    remove_entity(node, s, source="alert", ref=alert_id)
    return True


def queries_for(entity: Mapping[str, Any], *, owner: str) -> list[Any]:
    """The index queries (:class:`accord.search.index.Query`) that look for ``entity`` among
    the indexed alert subjects: the entity's own match keys, as the index files them
    (:func:`accord.search.index.entity_keys`), and its person fields; empty when nothing
    in it is searchable."""
    from accord.search.index import Query, entity_keys

    keys, person = entity_keys(entity, owner=owner)
    queries: list[Any] = [Query("person", person)] if person is not None else []
    for kind, key in sorted(keys):
        if kind == "person":
            continue
        if kind == "plate":  # filed as CC:PLATE; asked as the plate with its country
            country, _, plate = key.partition(":")
            queries.append(Query("plate", plate, country))
        else:
            queries.append(Query(kind, key, None))
    return queries
