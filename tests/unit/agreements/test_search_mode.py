"""``search_mode`` of a grant: the privacy-preserving hit/no-hit search, in the format, the
validation and the decision point (the stricter mode wins among clauses that allow)."""

from __future__ import annotations

from accord.agreements import (
    Actor,
    Clause,
    Registry,
    Resource,
    SearchMode,
    decide,
    dump_agreement,
    load_agreements,
)
from accord.agreements.validate import validate_text

from .conftest import AT, make_agreement, make_grant


def _search_grant(mode: str = "clear", **overrides: object) -> object:
    return make_grant(actions={"hit-no-hit-search"}, crime_areas={"all"}, deadlines=[],
                      search_mode=mode, **overrides)


def test_bloom_round_trips_and_clear_is_the_default_left_unwritten() -> None:
    bloom = make_agreement(Clause("search", "Searches.", _search_grant("bloom")))  # type: ignore[arg-type]
    text = dump_agreement(bloom)
    assert "search_mode: bloom" in text
    assert load_agreements(text) == [bloom]
    assert load_agreements(text)[0].clauses[0].grants.search_mode is SearchMode.BLOOM
    clear = make_agreement()
    assert "search_mode" not in dump_agreement(clear)
    assert clear.clauses[0].grants.search_mode is SearchMode.CLEAR


def test_validation_of_search_mode() -> None:
    text = dump_agreement(make_agreement(Clause("search", "Searches.", _search_grant("bloom"))))  # type: ignore[arg-type]
    issues, found = validate_text(text, "t.yaml")
    assert issues == [] and len(found) == 1
    issues, _ = validate_text(text.replace("search_mode: bloom", "search_mode: hashed"), "t.yaml")
    assert [(i.code, i.field) for i in issues] == [("bad-value", "clauses[0].grants.search_mode")]
    ungranted = dump_agreement(make_agreement()).replace("notify_owner: false",
                                                          "notify_owner: false\n    search_mode: bloom")
    issues, _ = validate_text(ungranted, "t.yaml")
    assert [i.code for i in issues] == ["search-mode-not-granted"]


def test_the_privacy_clause_wins_over_a_looser_clear_one() -> None:
    clear = make_agreement(Clause("clear", "Clear searches.", _search_grant(onward_transfer="forbidden")),  # type: ignore[arg-type]
                           id="a-clear")
    bloom = make_agreement(Clause("bloom", "Private searches.",  # type: ignore[arg-type]
                                  _search_grant("bloom", onward_transfer="free", retention="P2Y")),
                           id="b-bloom")
    registry = Registry([clear, bloom])
    decision = decide(Actor("ES-PN", "MA-DGSN"), "hit-no-hit-search",
                      Resource({"person"}, None, "H1"), "investigation", AT, registry=registry)
    assert decision.allowed and decision.basis is not None
    assert decision.basis.agreement_id == "b-bloom"
    assert decision.obligations is not None
    assert decision.obligations.search_mode is SearchMode.BLOOM
    assert decision.to_dict()["obligations"]["search_mode"] == "bloom"
    assert any("privacy-preserving" in line for line in decision.obligations.describe())
    only_clear = decide(Actor("ES-PN", "MA-DGSN"), "hit-no-hit-search",
                        Resource({"person"}, None, "H1"), "investigation", AT,
                        registry=Registry([clear]))
    assert only_clear.obligations is not None
    assert only_clear.to_dict()["obligations"]["search_mode"] == "clear"
