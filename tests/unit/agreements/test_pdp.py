"""The decision point: allow with basis and obligations, deny for every failing condition."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from accord.agreements import (
    Actor,
    AgreementConflict,
    Clause,
    Deadline,
    DeadlineNotDefined,
    DecisionCode,
    Registry,
    Resource,
    deadline_for,
    decide,
)
from accord.errors import PolicyDenied

from .conftest import AT, make_agreement, make_grant

ES_MA = Actor("ES-PN", "MA-DGSN")
OK = Resource(frozenset({"person", "phone"}), "0601", "H2")


def ask(
    registry: Registry,
    actor: Actor = ES_MA,
    action: str = "message",
    resource: Resource = OK,
    purpose: str = "investigation",
    at: datetime = AT,
):
    return decide(actor, action, resource, purpose, at, registry=registry)


@pytest.fixture
def registry() -> Registry:
    return Registry([make_agreement()])


def test_allow_has_basis_obligations_reason(registry: Registry) -> None:
    decision = ask(registry)
    assert decision.allowed and decision.code is DecisionCode.ALLOWED
    assert decision.basis is not None
    assert (decision.basis.agreement_id, decision.basis.version, decision.basis.clause_id) == ("es-ma-test", 1, "art-1")
    assert decision.obligations is not None
    assert decision.obligations.delete_by == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert decision.obligations.no_onward_transfer
    assert "art-1" in decision.reason
    assert decision.require() is decision
    data = decision.to_dict()
    assert data["basis"]["clause_id"] == "art-1" and data["obligations"]["no_onward_transfer"]


def test_both_directions_and_whole_country_by_default(registry: Registry) -> None:
    assert ask(registry, Actor("MA-DGSN", "ES-GC")).allowed
    assert ask(registry, Actor("MA", "ES")).allowed


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"actor": Actor("ES-PN", "FR-PN")}, DecisionCode.NO_AGREEMENT, "no agreement"),
        ({"actor": Actor("ES-PN", "ES-GC")}, DecisionCode.NO_AGREEMENT, "no agreement"),
        ({"actor": Actor("XX-PN", "MA-DGSN")}, DecisionCode.UNKNOWN_ACTOR, "unknown actor"),
        ({"actor": Actor("spain", "MA")}, DecisionCode.UNKNOWN_ACTOR, "unknown actor"),
        ({"at": datetime(2023, 12, 31, 23, 59, tzinfo=UTC)}, DecisionCode.NOT_YET_VALID, "from"),
        ({"action": "evidence-transfer"}, DecisionCode.ACTION_NOT_GRANTED, "evidence-transfer"),
        (
            {"resource": Resource(frozenset({"person", "wallet"}), "0601", "H2")},
            DecisionCode.CATEGORY_NOT_GRANTED,
            "wallet",
        ),
        ({"resource": Resource(frozenset({"person"}), "0101", "H2")}, DecisionCode.CRIME_AREA_NOT_GRANTED, "0101"),
        (
            {"resource": Resource(frozenset({"person"}), None, "H2")},
            DecisionCode.CRIME_AREA_NOT_GRANTED,
            "no crime area",
        ),
        ({"resource": Resource(frozenset({"person"}), "0601", "H3")}, DecisionCode.HANDLING_TOO_HIGH, "H3"),
        ({"purpose": "prevention"}, DecisionCode.PURPOSE_NOT_GRANTED, "prevention"),
        ({"resource": Resource(frozenset({"person"}), "9999", "H1")}, DecisionCode.UNKNOWN_CRIME_AREA, "9999"),
        ({"actor": Actor("ES-PN", "MA-DGSN", clearance="H1")}, DecisionCode.CLEARANCE_TOO_LOW, "clearance"),
    ],
)
def test_deny_names_the_failing_condition(registry: Registry, kwargs: dict, code: DecisionCode, words: str) -> None:
    decision = ask(registry, **kwargs)
    assert not decision.allowed
    assert decision.code is code
    assert words in decision.reason
    assert decision.obligations is None
    with pytest.raises(PolicyDenied) as info:
        decision.require()
    assert info.value.to_problem()["reason"] == code.value


def test_expired() -> None:
    registry = Registry([make_agreement(valid_until=date(2024, 12, 31))])
    assert ask(registry, at=datetime(2024, 12, 31, 23, 59, tzinfo=UTC)).allowed
    decision = ask(registry, at=datetime(2025, 1, 1, tzinfo=UTC))
    assert decision.code is DecisionCode.EXPIRED and "2024-12-31" in decision.reason


def test_empty_registry_denies() -> None:
    assert ask(Registry()).code is DecisionCode.NO_AGREEMENT


def test_versions_basis_follows_time() -> None:
    v1 = make_agreement(valid_until=date(2024, 12, 31))
    v2 = make_agreement(version=2, amends=1, valid_from=date(2025, 1, 1))
    registry = Registry([v1, v2])
    old = ask(registry, at=datetime(2024, 6, 1, tzinfo=UTC))
    new = ask(registry, at=datetime(2025, 6, 1, tzinfo=UTC))
    assert old.basis is not None and old.basis.version == 1
    assert new.basis is not None and new.basis.version == 2


def test_registry_refuses_overlapping_and_duplicate_versions() -> None:
    with pytest.raises(AgreementConflict):
        Registry([make_agreement(), make_agreement(version=2, valid_from=date(2024, 6, 1))])
    with pytest.raises(AgreementConflict):
        Registry([make_agreement(), make_agreement()])


def test_clauses_are_never_combined() -> None:
    persons = Clause("a", "Persons.", make_grant(categories={"person"}))
    phones = Clause("b", "Phones.", make_grant(categories={"phone"}))
    registry = Registry([make_agreement(persons, phones)])
    assert ask(registry, resource=Resource(frozenset({"person"}), "0601", "H2")).allowed
    decision = ask(registry, resource=OK)  # person + phone: no single clause
    assert decision.code is DecisionCode.CATEGORY_NOT_GRANTED


def test_directional_clause() -> None:
    clause = Clause("c", "ES to MA only.", make_grant(), from_parties={"ES"}, to_parties={"MA"})
    registry = Registry([make_agreement(clause)])
    assert ask(registry).allowed
    back = ask(registry, Actor("MA-DGSN", "ES-PN"))
    assert back.code is DecisionCode.DIRECTION_NOT_GRANTED


def test_agency_parties_cover_only_those_agencies() -> None:
    registry = Registry([make_agreement(parties=("ES-PN", "MA-DGSN"))])
    assert ask(registry).allowed
    assert ask(registry, Actor("ES-GC", "MA-DGSN")).code is DecisionCode.NO_AGREEMENT


def test_most_restrictive_clause_wins() -> None:
    free = Clause("a-free", "Free.", make_grant(onward_transfer="free", retention="P1Y"))
    strict = Clause("z-strict", "Strict.", make_grant(onward_transfer="forbidden", retention="P5Y"))
    consent = Clause("m-consent", "Consent.", make_grant(onward_transfer="with-owner-consent", retention="P6M"))
    registry = Registry([make_agreement(free, strict, consent)])
    decision = ask(registry)
    assert decision.basis is not None and decision.basis.clause_id == "z-strict"
    short = Clause("y-short", "Short.", make_grant(retention="P6M"))
    decision = ask(Registry([make_agreement(strict, short)]))
    assert decision.basis is not None and decision.basis.clause_id == "y-short"


def test_deny_points_at_closest_clause() -> None:
    far = Clause("a", "Alerts.", make_grant(actions={"alert-propagation"}))
    near = Clause("b", "Messages, no wallets.", make_grant())
    decision = ask(Registry([make_agreement(far, near)]), resource=Resource(frozenset({"wallet"}), "0601", "H1"))
    assert decision.code is DecisionCode.CATEGORY_NOT_GRANTED
    assert decision.basis is not None and decision.basis.clause_id == "b"


def test_naive_datetime_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="aware"):
        ask(registry, at=datetime(2025, 1, 1))


def test_examples_demo_pairs(examples: Registry) -> None:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    es_fr = decide(
        Actor("ES-PN", "FR-PN"),
        "message",
        Resource(frozenset({"person", "phone"}), "0601", "H2"),
        "investigation",
        at,
        registry=examples,
    )
    assert es_fr.allowed and es_fr.basis is not None
    ma_es = decide(
        Actor("MA-DGSN", "ES-PN"),
        "message",
        Resource(frozenset({"person", "account"}), "0601", "H1"),
        "investigation",
        at,
        registry=examples,
    )
    assert ma_es.code is DecisionCode.CATEGORY_NOT_GRANTED
    alert_back = decide(
        Actor("MA-DGSN", "ES-PN"),
        "alert-propagation",
        Resource(frozenset({"person"}), "0601", "H1"),
        "detection",
        at,
        registry=examples,
    )
    assert alert_back.code is DecisionCode.DIRECTION_NOT_GRANTED
    search = decide(
        Actor("FR-PN", "ES-GC"),
        "hit-no-hit-search",
        Resource(frozenset({"person"}), None, "H1"),
        "detection",
        at,
        registry=examples,
    )
    assert search.allowed and search.basis is not None and search.basis.agreement_id == "eu-prum"


def test_deadlines_from_examples(examples: Registry) -> None:
    info = examples.get("eu-2023-977")
    assert deadline_for(info, "information", "urgent-direct") == timedelta(hours=8)
    assert deadline_for(info, "information", "urgent") == timedelta(days=3)
    assert deadline_for(info, "information", "normal") == timedelta(days=7)
    assert deadline_for(info, "information", "high") == timedelta(days=7)
    eio = examples.get("eu-eio-2014-41")
    assert deadline_for(eio, "eio", "normal", "decide") == timedelta(days=30)
    assert deadline_for(eio, "eio", "normal", "decide_extension") == timedelta(days=30)
    assert deadline_for(eio, "eio", "urgent") == timedelta(days=90)  # falls back to normal
    with pytest.raises(DeadlineNotDefined):
        deadline_for(eio, "extradition", "normal")


def test_deadline_shortest_across_clauses() -> None:
    a = Clause("a", "A.", make_grant())
    b = Clause("b", "B.", make_grant(deadlines=[Deadline("information", "normal", "P5D")]))
    assert deadline_for(make_agreement(a, b), "information", "normal") == timedelta(days=5)


def test_amendment_via_replace_keeps_versions_apart() -> None:
    v1 = make_agreement()
    v1_ended = replace(v1, valid_until=date(2025, 3, 31))
    v2 = replace(v1, version=2, amends=1, valid_from=date(2025, 4, 1))
    assert not v1_ended.overlaps(v2)
    assert len(Registry([v1_ended, v2])) == 2
