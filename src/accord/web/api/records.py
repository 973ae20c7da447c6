"""/api/v1/records: FtM records, seen through the officer's clearance and the policy.

The record use cases own their transactions (a refusal is committed to the
audit trail before the 403 goes out), so these routes take the node, not the
request session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from accord.agreements import Handling, Purpose
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.records import services as records
from accord.records.domain import Reader
from accord.records.schemas import RecordCreate, RecordList, RecordPublic, RecordUpdate
from accord.web.bounds import Offset
from accord.web.deps import NodeDep, require
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/api/v1/records", tags=["records"])

RecordsRead = Annotated[Principal, Depends(require(Permission.RECORDS_READ))]
RecordsWrite = Annotated[Principal, Depends(require(Permission.RECORDS_WRITE))]
PurposeQuery = Annotated[Purpose | None, Query(
    description="why you read (prevention, detection, investigation, prosecution); "
                "default: the record's purpose")]


def reader_of(principal: Principal) -> Reader:
    return Reader(actor=principal.actor, agency_id=principal.agency_id,
                  clearance=Handling(principal.clearance.value),
                  credential=principal.audit_credential)


def _purpose(value: Purpose | None) -> str | None:
    return None if value is None else value.value


@router.get("", response_model=RecordList)
def list_(
    node: NodeDep, principal: RecordsRead,
    schema: str | None = None, owner: str | None = None, case: str | None = None,
    handling: Handling | None = None,
    q: Annotated[str | None, Query(max_length=200, description="caption contains")] = None,
    flagged: bool | None = None, purpose: PurposeQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
) -> RecordList:
    """Records you may see; ``withheld`` counts the matching ones you may not."""
    page = records.list_records(
        node, reader=reader_of(principal), limit=limit, offset=offset, purpose=_purpose(purpose),
        filters=records.RecordFilter(schema=schema, owner=owner, case=case,
                                     handling=None if handling is None else handling.value,
                                     q=q, flagged=flagged))
    return RecordList(items=[RecordPublic.of(r) for r in page.items], total=page.total,
                      withheld=page.withheld, limit=page.limit, offset=page.offset)


@router.post("", response_model=RecordPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(409))
def create(body: RecordCreate, node: NodeDep, principal: RecordsWrite) -> RecordPublic:
    row = records.create_record(node, body.entity.to_ftm(),
                                body.meta.model_dump(mode="json", exclude_none=True),
                                reader=reader_of(principal))
    return RecordPublic.of(row)


@router.get("/{record_id}", response_model=RecordPublic)
def get(record_id: str, node: NodeDep, principal: RecordsRead, purpose: PurposeQuery = None,
        crime_area: str | None = None) -> RecordPublic:
    """One record; 403 ``clearance-too-low`` (with ``handling`` and ``clearance``) above yours."""
    row = records.get_record(node, record_id, reader=reader_of(principal),
                             purpose=_purpose(purpose), crime_area=crime_area)
    return RecordPublic.of(row)


@router.patch("/{record_id}", response_model=RecordPublic)
def update(record_id: str, body: RecordUpdate, node: NodeDep,
           principal: RecordsWrite) -> RecordPublic:
    row = records.update_record(
        node, record_id, reader=reader_of(principal), properties=body.properties,
        meta=None if body.meta is None else body.meta.model_dump(mode="json", exclude_none=True))
    return RecordPublic.of(row)


@router.delete("/{record_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(record_id: str, node: NodeDep, principal: RecordsWrite,
           reason: Annotated[str, Query(max_length=500)] = "") -> None:
    records.delete_record(node, record_id, reader=reader_of(principal), reason=reason)
