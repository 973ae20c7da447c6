"""The credential on audit entries: part of the leaf when set, absent when not, so entries
written before migration 0004 (and entries of the node itself) hash as they always did."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from accord import migrations
from accord.audit.services import EntryIn, entry_bytes
from accord.crypto.canonical import canonical_json
from accord.crypto.merkle import leaf_hash
from accord.db import UTCDateTime, make_engine

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def legacy_bytes(idx: int, e: EntryIn) -> bytes:
    """An entry's bytes as written before the credential existed."""
    return canonical_json({
        "v": 1, "idx": idx, "at": AT.isoformat(timespec="microseconds"), "actor": e.actor,
        "action": e.action, "object": e.object, "purpose": e.purpose, "basis": e.basis,
        "outcome": e.outcome, "detail": e.detail})


def test_no_credential_hashes_as_before() -> None:
    e = EntryIn(actor="ES-PN/garcia", action="records:record:read", object="record:x",
                detail={"k": 1})
    assert entry_bytes(7, AT, e) == legacy_bytes(7, e)


def test_a_credential_is_part_of_the_leaf() -> None:
    plain = EntryIn(actor="ES-PN/garcia", action="records:record:read", object="record:x")
    by_session = EntryIn(actor="ES-PN/garcia", action="records:record:read", object="record:x",
                         credential="session:0123456789ab")
    by_token = EntryIn(actor="ES-PN/garcia", action="records:record:read", object="record:x",
                       credential="token:tok_0123456789abcdef")
    leaves = {leaf_hash(entry_bytes(3, AT, e)) for e in (plain, by_session, by_token)}
    assert len(leaves) == 3
    assert b'"credential":"session:0123456789ab"' in entry_bytes(3, AT, by_session)


def test_migration_0004_keeps_old_entries_and_officers(empty_db: str) -> None:
    """Entries of a 0003 database still verify after 0004; its officers count as enrolled."""
    migrations.upgrade(empty_db, "0003")
    meta = sa.MetaData()
    audit = sa.Table("audit_entries", meta, sa.Column("idx", sa.Integer), sa.Column("at", UTCDateTime),
                     *(sa.Column(c, sa.String) for c in ("actor", "action", "object", "purpose",
                                                          "basis", "outcome")),
                     sa.Column("detail", sa.JSON), sa.Column("leaf_hash", sa.LargeBinary))
    agencies = sa.Table("agencies", meta, sa.Column("id", sa.String), sa.Column("country", sa.String),
                        sa.Column("name", sa.String), sa.Column("kind", sa.String),
                        sa.Column("points_of_contact", sa.JSON), sa.Column("node_id", sa.String),
                        sa.Column("hosted", sa.Boolean), sa.Column("created_at", UTCDateTime))
    officers = sa.Table("officers", meta, *(sa.Column(c, sa.String) for c in (
        "username", "display_name", "agency_id", "clearance", "password_hash")),
        sa.Column("roles", sa.JSON), sa.Column("totp_secret", sa.LargeBinary),
        sa.Column("failed_attempts", sa.Integer), sa.Column("active", sa.Boolean),
        sa.Column("created_at", UTCDateTime))
    old = [EntryIn(actor="ES-PN/garcia", action="records:record:read", object=f"record:{i}",
                   detail={"i": i}) for i in range(3)]
    engine = make_engine(empty_db)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(audit), [
                {"idx": i, "at": AT, "actor": e.actor, "action": e.action, "object": e.object,
                 "purpose": e.purpose, "basis": e.basis, "outcome": e.outcome, "detail": e.detail,
                 "leaf_hash": leaf_hash(legacy_bytes(i, e))} for i, e in enumerate(old)])
            conn.execute(sa.insert(agencies).values(
                id="ES-PN", country="ES", name="PN", kind="police", points_of_contact=[],
                node_id="es-node", hosted=True, created_at=AT))
            conn.execute(sa.insert(officers).values(
                username="garcia", display_name="Garcia", agency_id="ES-PN", clearance="H2",
                password_hash="x", roles=["officer"], totp_secret=b"x", failed_attempts=0,
                active=True, created_at=AT))
    finally:
        engine.dispose()
    migrations.upgrade(empty_db, "0004")
    from sqlalchemy.orm import Session

    from accord.audit.models import AuditEntry
    from accord.parties.models import Officer

    engine = make_engine(empty_db)
    try:
        with Session(engine) as s:
            rows = list(s.scalars(sa.select(AuditEntry).order_by(AuditEntry.idx)))
            assert [r.credential for r in rows] == ["", "", ""]
            assert all(leaf_hash(entry_bytes(r.idx, r.at, r)) == r.leaf_hash for r in rows)
            officer = s.scalars(sa.select(Officer)).one()
            assert officer.enrolled and officer.enrolled_at == AT
            assert officer.last_totp_step is None and officer.enrolment_hash is None
    finally:
        engine.dispose()
