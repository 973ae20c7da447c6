from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from accord.agreements import Agreement, Clause, Deadline, Grant, Registry, load_registry

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "agreements"
BROKEN = Path(__file__).parent / "broken"
AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def make_grant(**overrides: object) -> Grant:
    values: dict[str, object] = {
        "actions": {"message", "request:information"},
        "categories": {"person", "phone", "vehicle"},
        "crime_areas": {"06", "0701"},
        "max_handling": "H2",
        "purposes": {"investigation", "prosecution"},
        "retention": "P1Y",
        "onward_transfer": "forbidden",
        "notify_owner": False,
        "deadlines": [
            Deadline("information", "urgent", respond="P3D"),
            Deadline("information", "normal", respond="P7D"),
        ],
    }
    values.update(overrides)
    return Grant(**values)  # type: ignore[arg-type]


def make_agreement(*clauses: Clause, **overrides: object) -> Agreement:
    values: dict[str, object] = {
        "id": "es-ma-test",
        "version": 1,
        "title": "Test agreement",
        "instrument": "bilateral-treaty",
        "parties": ("ES", "MA"),
        "valid_from": date(2024, 1, 1),
        "clauses": clauses or (Clause("art-1", "The Parties exchange.", make_grant()),),
    }
    values.update(overrides)
    return Agreement(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def examples() -> Registry:
    return load_registry(EXAMPLES)
