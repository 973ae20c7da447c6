"""Pure rules: categories from FtM records, the recipient state machine, payload validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from accord.agreements import Category
from accord.exchange.domain import (
    PROGRESS,
    MessagePayload,
    Priority,
    RecipientState,
    StatusPayload,
    advance,
    categories_of,
    validate_records,
)

C = Category


def cats(*records: dict[str, Any], free_text: bool = True) -> set[str]:
    return {c.value for c in categories_of(validate_records(list(records)), free_text=free_text)}


@pytest.mark.parametrize(("record", "expected"), [
    ({"id": "1", "schema": "Person", "properties": {"name": ["A"]}}, {"person"}),
    ({"id": "1", "schema": "Company", "properties": {"name": ["ACME"]}}, {"organisation"}),
    ({"id": "1", "schema": "LegalEntity", "properties": {}}, {"person", "organisation"}),
    ({"id": "1", "schema": "Vessel", "properties": {"name": ["Sea"]}}, {"vehicle"}),
    ({"id": "1", "schema": "Passport", "properties": {"number": ["X1"]}}, {"document"}),
    ({"id": "1", "schema": "BankAccount", "properties": {"iban": ["ES91"]}}, {"account"}),
    ({"id": "1", "schema": "CryptoWallet", "properties": {"publicKey": ["bc1q"]}}, {"wallet"}),
    ({"id": "1", "schema": "UserAccount", "properties": {"username": ["x"]}}, {"cyber-indicator"}),
    ({"id": "1", "schema": "Person", "properties": {"phone": ["+34600"], "email": ["a@b.es"]}},
     {"person", "phone", "email"}),
    ({"id": "1", "schema": "Payment", "properties": {"payerAccount": ["acc-1"]}}, {"account"}),
    ({"id": "1", "schema": "Call", "properties": {"callerNumber": ["+34600"]}}, {"phone"}),
    ({"id": "1", "schema": "Event", "properties": {"name": ["meeting"]}}, set()),
])
def test_categories_follow_ftm_schemas_and_property_types(record: dict[str, Any],
                                                          expected: set[str]) -> None:
    assert cats(record, free_text=False) == expected


def test_free_text_counts_as_person() -> None:
    assert cats() == {"person"}
    assert cats({"id": "1", "schema": "Vehicle", "properties": {}}) == {"person", "vehicle"}


@pytest.mark.parametrize("record", [
    {"id": "1", "schema": "Nope", "properties": {}},
    {"id": "1", "schema": "Thing", "properties": {}},  # abstract
    {"id": "1", "schema": "Person", "properties": {"nope": ["x"]}},
    {"id": "", "schema": "Person", "properties": {}},
    {"id": "1", "schema": "Person", "properties": {"name": "not a list"}},
    {"id": "1", "schema": "Person", "properties": {}, "extra": 1},
])
def test_bad_records_are_refused(record: dict[str, Any]) -> None:
    with pytest.raises((ValueError, ValidationError)):
        validate_records([record])


def test_states_only_move_forward() -> None:
    S = RecipientState
    for i, a in enumerate(PROGRESS):
        for j, b in enumerate(PROGRESS):
            assert advance(a, b) is (j > i)
    assert advance(S.QUEUED, S.REFUSED) and advance(S.SENT, S.REFUSED)
    assert not advance(S.DELIVERED, S.REFUSED)
    assert not any(advance(S.REFUSED, b) for b in S)
    assert advance(S.SENT, S.DEAD_LETTER) and not advance(S.DELIVERED, S.DEAD_LETTER)
    assert advance(S.DEAD_LETTER, S.DELIVERED) and advance(S.DEAD_LETTER, S.ACKNOWLEDGED)
    assert not advance(S.DEAD_LETTER, S.SENT)


@given(st.lists(st.sampled_from(list(RecipientState)), max_size=20))
def test_any_sequence_of_events_never_goes_back(events: list[RecipientState]) -> None:
    state = RecipientState.QUEUED
    for new in events:
        before = state
        if advance(state, new):
            state = new
        if before in PROGRESS and state in PROGRESS:
            assert PROGRESS.index(state) >= PROGRESS.index(before)
        if before is RecipientState.REFUSED:
            assert state is RecipientState.REFUSED


def test_priorities_rank_urgent_first() -> None:
    assert sorted(Priority, key=lambda p: p.rank) == [Priority.URGENT, Priority.HIGH, Priority.NORMAL]


def base_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": "a" * 32, "thread_id": "a" * 32, "sender": "ES-PN",
        "sender_officer": "ES-PN/garcia", "to": ["FR-PN"], "subject": "s",
        "created": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("change", [
    {"to": []}, {"to": ["FR-PN", "FR-PN"]}, {"crime_area": "99"}, {"handling": "H9"},
    {"created": "2026-01-01T00:00:00"}, {"message_id": "XYZ"}, {"unknown": 1},
])
def test_payload_validation(change: dict[str, Any]) -> None:
    MessagePayload.model_validate(base_payload())
    with pytest.raises(ValidationError):
        MessagePayload.model_validate(base_payload(**change))


def test_status_payload() -> None:
    ok = {"message_id": "b" * 32, "agency": "FR-PN", "state": "read",
          "at": "2026-01-01T00:00:00+00:00"}
    assert StatusPayload.model_validate(ok).state == "read"
    with pytest.raises(ValidationError):
        StatusPayload.model_validate({**ok, "state": "delivered"})
