"""The policy decision point: ``decide(actor, action, resource, purpose, at, *, registry)``.

Pure: no I/O and no clock (``at`` is a parameter), so the same question gives
the same answer on the sending node, on the receiving node and in an audit
replay years later.

It fails closed. The answer is *allow* only when one single clause of one
agreement in force at ``at`` between the two sides grants, all at once, the
direction, the action, every data category, the crime area, the handling
code and the purpose. Clauses are never combined. Everything else is a deny
whose ``code`` says which condition failed and whose ``reason`` says it in a
sentence, naming the clause that came closest.

When several clauses allow, the one with the strictest obligations wins
(the privacy-preserving search mode before clear, then onward transfer
forbidden < with owner consent < free, then the earliest delete-by date, then
notify-owner, then agreement id and clause id), so a receiver never gets
looser terms than some applicable clause imposes — and a search never goes
out in clear when an applicable clause asks for the privacy-preserving mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from accord.agreements.domain import (
    AGENCY_RE,
    COUNTRY_RE,
    Action,
    Actor,
    Agreement,
    Basis,
    Clause,
    DeadlineStage,
    Decision,
    DecisionCode,
    Obligations,
    Purpose,
    RequestType,
    Resource,
    Urgency,
)
from accord.agreements.errors import DeadlineNotDefined
from accord.agreements.iccs import iccs_name, is_iccs_code
from accord.agreements.registry import Registry
from accord.agreements.validate import is_known_country

__all__ = ["deadline_for", "decide"]

# The order in which a clause's conditions are checked; a deny names the clause
# that got furthest down this list.
_STAGES = (
    DecisionCode.ACTION_NOT_GRANTED,
    DecisionCode.DIRECTION_NOT_GRANTED,
    DecisionCode.CATEGORY_NOT_GRANTED,
    DecisionCode.CRIME_AREA_NOT_GRANTED,
    DecisionCode.HANDLING_TOO_HIGH,
    DecisionCode.PURPOSE_NOT_GRANTED,
)
_PASSED = len(_STAGES)


@lru_cache(maxsize=4096)
def _actor_problem(ref: str) -> str | None:
    """Why ``ref`` is not a usable country or agency id, or None."""
    if not isinstance(ref, str) or not (COUNTRY_RE.match(ref) or AGENCY_RE.match(ref)):
        return f"{ref!r} is neither a country (ES) nor an agency id (ES-PN)"
    if not is_known_country(ref[:2]):
        return f"{ref!r}: {ref[:2]!r} is not an ISO 3166-1 country"
    return None


def _names(values: Iterable[object]) -> str:
    items = sorted(str(v) for v in values)
    return ", ".join(items) if items else "nothing"


def _stage(clause: Clause, pa: str, pb: str, action: Action, resource: Resource, purpose: Purpose) -> int:
    """How many conditions of the clause hold, in the order of ``_STAGES``."""
    grant = clause.grants
    if action not in grant.actions:
        return 0
    if not clause.allows_direction(pa, pb):
        return 1
    if not resource.categories <= grant.categories:
        return 2
    if not grant.covers_crime_area(resource.crime_area):
        return 3
    if resource.handling.rank > grant.max_handling.rank:
        return 4
    if purpose not in grant.purposes:
        return 5
    return _PASSED


def _where(agreement: Agreement, clause: Clause) -> str:
    return f"clause {clause.id} of {agreement.id} v{agreement.version}"


def _failure_reason(
    stage: int,
    agreement: Agreement,
    clause: Clause,
    pa: str,
    pb: str,
    actor: Actor,
    action: Action,
    resource: Resource,
    purpose: Purpose,
) -> str:
    grant = clause.grants
    where = _where(agreement, clause)
    code = _STAGES[stage]
    if code is DecisionCode.DIRECTION_NOT_GRANTED:
        return (
            f"Denied: {where} grants only from {_names(clause.from_parties or agreement.parties)} "
            f"to {_names(clause.to_parties or agreement.parties)}, not from {pa} to {pb} "
            f"({actor.agency} → {actor.counterpart})."
        )
    if code is DecisionCode.ACTION_NOT_GRANTED:
        return (
            f"Denied: no clause grants action '{action}' between {actor.agency} and "
            f"{actor.counterpart}; closest is {where}, which grants {_names(grant.actions)}."
        )
    if code is DecisionCode.CATEGORY_NOT_GRANTED:
        missing = resource.categories - grant.categories
        return (
            f"Denied: data category {_names(missing)} is not granted for '{action}'; "
            f"{where} grants only {_names(grant.categories)}."
        )
    if code is DecisionCode.CRIME_AREA_NOT_GRANTED:
        area = resource.crime_area
        label = "no crime area" if area is None else f"crime area {area}"
        name = iccs_name(area) if area else None
        if name:
            label += f" ({name})"
        return f"Denied: {label} is not covered; {where} covers only {_names(grant.crime_areas)}."
    if code is DecisionCode.HANDLING_TOO_HIGH:
        return (
            f"Denied: handling code {resource.handling} ({resource.handling.tlp}) is above "
            f"the maximum {grant.max_handling} of {where}."
        )
    return f"Denied: purpose '{purpose}' is not granted; {where} grants only {_names(grant.purposes)}."


def decide(
    actor: Actor,
    action: Action | str,
    resource: Resource,
    purpose: Purpose | str,
    at: datetime,
    *,
    registry: Registry,
) -> Decision:
    """Allow or deny ``actor`` doing ``action`` with ``resource`` for ``purpose`` at ``at``.

    ``at`` must be timezone-aware. Unknown enum values for ``action`` or
    ``purpose`` raise ``ValueError`` (a programming error, not a policy answer).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("decide() needs an aware datetime for 'at'")
    action = Action(action)
    purpose = Purpose(purpose)

    for ref in (actor.agency, actor.counterpart):
        problem = _actor_problem(ref)
        if problem is not None:
            return Decision.deny(DecisionCode.UNKNOWN_ACTOR, f"Denied: unknown actor {problem}.")
    if actor.clearance is not None and resource.handling.rank > actor.clearance.rank:
        return Decision.deny(
            DecisionCode.CLEARANCE_TOO_LOW,
            f"Denied: handling code {resource.handling} is above the officer's clearance {actor.clearance}.",
        )
    if resource.crime_area is not None and not is_iccs_code(resource.crime_area):
        return Decision.deny(
            DecisionCode.UNKNOWN_CRIME_AREA,
            f"Denied: {resource.crime_area!r} is not a known ICCS code.",
        )

    groups = registry.between(actor.agency, actor.counterpart)
    if not groups:
        return Decision.deny(
            DecisionCode.NO_AGREEMENT,
            f"Denied: no agreement between {actor.agency} and {actor.counterpart}.",
        )

    in_force: list[Agreement] = []
    expired: list[Agreement] = []
    future: list[Agreement] = []
    for versions in groups:
        current = None
        for agreement in versions:
            status = agreement.validity_at(at)
            if status == "in-force":
                current = agreement
                break
            (expired if status == "expired" else future).append(agreement)
        if current is not None:
            in_force.append(current)

    if not in_force:
        day = at.date().isoformat()
        if expired:
            last = max(expired, key=lambda a: (a.ends_at, a.id))
            return Decision.deny(
                DecisionCode.EXPIRED,
                f"Denied: {last.id} v{last.version} expired after {last.valid_until}; "
                f"no agreement between {actor.agency} and {actor.counterpart} is in force "
                f"on {day}.",
            )
        first = min(future, key=lambda a: (a.starts_at, a.id))
        return Decision.deny(
            DecisionCode.NOT_YET_VALID,
            f"Denied: {first.id} v{first.version} applies only from {first.valid_from}; "
            f"no agreement between {actor.agency} and {actor.counterpart} is in force "
            f"on {day}.",
        )

    best: tuple[Obligations, Agreement, Clause] | None = None
    best_key: tuple[int, int, datetime, bool, str, str] | None = None
    closest: tuple[int, str, str, Agreement, Clause, str, str] | None = None
    for agreement in in_force:
        pa = agreement.party_for(actor.agency)
        pb = agreement.party_for(actor.counterpart)
        assert pa is not None and pb is not None  # guaranteed by Registry.between
        for clause in agreement.clauses:
            stage = _stage(clause, pa, pb, action, resource, purpose)
            if stage == _PASSED:
                grant = clause.grants
                obligations = Obligations(
                    delete_by=grant.retention.add_to(at),
                    onward_transfer=grant.onward_transfer,
                    notify_owner=grant.notify_owner,
                    search_mode=grant.search_mode,
                )
                key = (
                    -grant.search_mode.strictness,
                    -grant.onward_transfer.restrictiveness,
                    obligations.delete_by,
                    not grant.notify_owner,
                    agreement.id,
                    clause.id,
                )
                if best_key is None or key < best_key:
                    best_key, best = key, (obligations, agreement, clause)
            elif closest is None or (-stage, agreement.id, clause.id) < (-closest[0], closest[1], closest[2]):
                closest = (stage, agreement.id, clause.id, agreement, clause, pa, pb)

    if best is not None:
        obligations, agreement, clause = best
        return Decision(
            allowed=True,
            code=DecisionCode.ALLOWED,
            reason=(
                f"Allowed by {_where(agreement, clause)} ({agreement.title}): "
                f"{actor.agency} may '{action}' towards {actor.counterpart} for {purpose}."
            ),
            basis=Basis(agreement.id, agreement.version, clause.id),
            obligations=obligations,
        )

    assert closest is not None  # every in-force agreement has at least one clause
    stage, _, _, agreement, clause, pa, pb = closest
    return Decision.deny(
        _STAGES[stage],
        _failure_reason(stage, agreement, clause, pa, pb, actor, action, resource, purpose),
        basis=Basis(agreement.id, agreement.version, clause.id),
    )


def deadline_for(
    agreement: Agreement,
    request_type: RequestType | str,
    urgency: Urgency | str,
    stage: DeadlineStage | str = DeadlineStage.RESPOND,
) -> timedelta:
    """The deadline the agreement sets for a request type at an urgency.

    If the agreement names no deadline for this urgency, the next less urgent
    one applies (``urgent-direct`` → ``urgent`` → ``high`` → ``normal``). If
    several clauses name one, the shortest applies. Raises
    :class:`DeadlineNotDefined` when there is none.
    """
    request_type = RequestType(request_type)
    stage = DeadlineStage(stage)
    for level in Urgency(urgency).fallbacks:
        found = [
            value
            for clause in agreement.clauses
            for deadline in clause.grants.deadlines
            if deadline.request is request_type
            and deadline.urgency is level
            and (value := deadline.stage(stage)) is not None
        ]
        if found:
            return min(d.to_timedelta() for d in found)
    raise DeadlineNotDefined(
        f"{agreement.id} v{agreement.version} sets no '{stage}' deadline for "
        f"'{request_type}' requests at urgency '{urgency}' or lower",
        agreement_id=agreement.id,
        request_type=request_type.value,
    )
