"""Property tests over generated agreements: fail closed, one clause covers every allow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.agreements import (
    Action,
    Actor,
    Agreement,
    Category,
    Clause,
    Decision,
    Grant,
    Handling,
    Purpose,
    Registry,
    Resource,
    decide,
)

COUNTRIES = ["ES", "FR", "MA", "PT"]
AGENCIES = {c: [f"{c}-PN", f"{c}-GC"] for c in COUNTRIES}
AREAS = ["01", "0101", "06", "0601", "07", "0701", "07041", "09", "0903", "09051"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def subset(values: list, min_size: int = 0) -> st.SearchStrategy[frozenset]:
    return st.frozensets(st.sampled_from(values), min_size=min_size)


grants = st.builds(
    Grant,
    actions=subset(list(Action), 1),
    categories=subset(list(Category)),
    crime_areas=st.one_of(st.just(frozenset({"all"})), subset(AREAS, 1)),
    max_handling=st.sampled_from(list(Handling)),
    purposes=subset(list(Purpose), 1),
    retention=st.sampled_from(["P1D", "P6M", "P1Y", "P5Y"]),
    onward_transfer=st.sampled_from(["forbidden", "with-owner-consent", "free"]),
    notify_owner=st.booleans(),
)


@st.composite
def agreements(draw: st.DrawFn, agreement_id: str = "g") -> Agreement:
    parties = draw(st.lists(st.sampled_from(COUNTRIES), min_size=2, max_size=3, unique=True))
    n = draw(st.integers(1, 4))
    clauses = []
    for i in range(n):
        directional = draw(st.booleans())
        clauses.append(
            Clause(
                f"c{i}",
                "text",
                draw(grants),
                from_parties=frozenset(draw(st.lists(st.sampled_from(parties), min_size=1))) if directional else None,
                to_parties=frozenset(draw(st.lists(st.sampled_from(parties), min_size=1))) if directional else None,
            )
        )
    start = date(2020, 1, 1) + timedelta(days=draw(st.integers(0, 1500)))
    length = draw(st.one_of(st.none(), st.integers(0, 1500)))
    return Agreement(
        id=agreement_id,
        version=1,
        title="generated",
        instrument="mou",
        parties=tuple(parties),
        valid_from=start,
        valid_until=None if length is None else start + timedelta(days=length),
        clauses=tuple(clauses),
    )


actors = st.builds(
    Actor,
    agency=st.sampled_from([a for v in AGENCIES.values() for a in v] + COUNTRIES),
    counterpart=st.sampled_from([a for v in AGENCIES.values() for a in v] + COUNTRIES),
)
resources = st.builds(
    Resource,
    categories=subset(list(Category)),
    crime_area=st.one_of(st.none(), st.sampled_from(AREAS)),
    handling=st.sampled_from(list(Handling)),
)
moments = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


def clause_covers(
    agreement: Agreement,
    clause: Clause,
    actor: Actor,
    action: Action,
    resource: Resource,
    purpose: Purpose,
    at: datetime,
) -> bool:
    """An independent oracle, written from the spec, not from pdp.py."""

    def party(ref: str) -> str | None:
        for p in agreement.parties:
            if p == ref or (len(p) == 2 and ref.startswith(p + "-")):
                return p
        return None

    pa, pb = party(actor.agency), party(actor.counterpart)
    g = clause.grants
    end = None if agreement.valid_until is None else agreement.valid_until + timedelta(days=1)
    return (
        pa is not None
        and pb is not None
        and pa != pb
        and at.date() >= agreement.valid_from
        and (end is None or at.date() < end)
        and (clause.from_parties is None or pa in clause.from_parties)
        and (clause.to_parties is None or pb in clause.to_parties)
        and action in g.actions
        and resource.categories <= g.categories
        and (
            "all" in g.crime_areas
            or (resource.crime_area is not None and any(resource.crime_area.startswith(c) for c in g.crime_areas))
        )
        and int(resource.handling.value[1]) <= int(g.max_handling.value[1])
        and purpose in g.purposes
    )


def run(
    agreement_list: list[Agreement], actor: Actor, action: Action, resource: Resource, purpose: Purpose, at: datetime
) -> Decision:
    return decide(actor, action, resource, purpose, at, registry=Registry(agreement_list))


@SETTINGS
@given(
    st.lists(agreements(), max_size=1),
    actors,
    st.sampled_from(list(Action)),
    resources,
    st.sampled_from(list(Purpose)),
    moments,
)
def test_decision_matches_single_clause_oracle(agreement_list, actor, action, resource, purpose, at) -> None:
    decision = run(agreement_list, actor, action, resource, purpose, at)
    covering = [
        (a, c) for a in agreement_list for c in a.clauses if clause_covers(a, c, actor, action, resource, purpose, at)
    ]
    assert decision.allowed == bool(covering)
    if decision.allowed:
        assert decision.basis is not None and decision.obligations is not None
        (agreement,) = [a for a in agreement_list if a.id == decision.basis.agreement_id]
        clause = agreement.clause(decision.basis.clause_id)
        assert clause_covers(agreement, clause, actor, action, resource, purpose, at)
        g = clause.grants
        assert resource.categories <= g.categories and action in g.actions
        assert purpose in g.purposes
        assert decision.obligations.delete_by == g.retention.add_to(at)
        assert decision.obligations.onward_transfer == g.onward_transfer
    else:
        assert decision.obligations is None and decision.reason.startswith("Denied")


@SETTINGS
@given(actors, st.sampled_from(list(Action)), resources, st.sampled_from(list(Purpose)), moments)
def test_empty_registry_always_denies(actor, action, resource, purpose, at) -> None:
    assert not run([], actor, action, resource, purpose, at).allowed


@SETTINGS
@given(
    agreements(),
    actors,
    st.sampled_from(list(Action)),
    resources,
    st.sampled_from(list(Purpose)),
    st.integers(1, 3000),
    st.booleans(),
)
def test_outside_validity_always_denies(agreement, actor, action, resource, purpose, days, before) -> None:
    if before:
        at = agreement.starts_at - timedelta(seconds=days)
    else:
        if agreement.ends_at is None:
            return
        at = agreement.ends_at + timedelta(seconds=days - 1)
    decision = run([agreement], actor, action, resource, purpose, at)
    assert not decision.allowed


@SETTINGS
@given(agreements(), actors, st.sampled_from(list(Action)), resources, st.sampled_from(list(Purpose)), moments)
def test_anything_more_than_the_clauses_grant_is_denied(agreement, actor, action, resource, purpose, at) -> None:
    """Add a category no clause grants: always deny, even if the rest is granted."""
    granted = set().union(*(c.grants.categories for c in agreement.clauses))
    missing = [c for c in Category if c not in granted]
    if not missing:
        return
    wider = Resource(resource.categories | {missing[0]}, resource.crime_area, resource.handling)
    assert not run([agreement], actor, action, wider, purpose, at).allowed


@SETTINGS
@given(
    agreements("a1"),
    agreements("a2"),
    actors,
    st.sampled_from(list(Action)),
    resources,
    st.sampled_from(list(Purpose)),
    moments,
)
def test_two_agreements_still_one_clause(a1, a2, actor, action, resource, purpose, at) -> None:
    decision = run([a1, a2], actor, action, resource, purpose, at)
    covering = [
        (a, c) for a in (a1, a2) for c in a.clauses if clause_covers(a, c, actor, action, resource, purpose, at)
    ]
    assert decision.allowed == bool(covering)
