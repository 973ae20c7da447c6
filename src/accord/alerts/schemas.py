"""API schemas of alerts: the create and withdraw commands and the public views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from accord.agreements import Handling, Purpose
from accord.alerts.domain import AlertType

__all__ = ["AlertCreate", "AlertPublic", "AlertSummary", "AlertWithdraw", "HitPublic"]


class AlertCreate(BaseModel):
    """Issue an alert. ``subject`` is a FollowTheMoney entity (Person, Vehicle, Passport …);
    ``action`` defaults to the type's usual action on a hit; ``review_at`` defaults to the
    end of validity."""

    model_config = ConfigDict(extra="forbid")

    type: AlertType
    subject: dict[str, Any]
    action: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    remarks: Annotated[str, StringConstraints(max_length=2000)] = ""
    crime_area: Annotated[str, StringConstraints(max_length=10)] | None = None
    handling: Handling = Handling.H1
    purpose: Purpose = Purpose.DETECTION
    valid_until: AwareDatetime
    review_at: AwareDatetime | None = None


class AlertWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class AlertSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alert_id: str
    holder: str
    origin: str
    issuer: str
    type: str
    subject_schema: str
    subject_caption: str
    handling: str
    state: str
    valid_until: datetime
    review_at: datetime
    created_at: datetime


class AlertPublic(AlertSummary):
    issuer_officer: str
    issuer_node: str
    subject: dict[str, Any]
    action: str
    remarks: str
    crime_area: str | None
    purpose: str
    categories: list[str]
    received_at: datetime | None
    withdrawn_at: datetime | None
    withdrawn_reason: str | None
    expired_at: datetime | None
    decision: dict[str, Any] | None
    propagation: dict[str, Any] = Field(description="own alerts: per peer agency, queued "
                                        "(envelope id) or refused (clause and reason)")


class HitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    hit_id: str
    alert_id: str
    issuer: str
    reporter: str
    officer: str
    node_id: str
    place: str | None
    kind: str
    ref: str | None
    band: str
    at: datetime
    answer_due: datetime
    deadline_source: str
    handling: str
    state: str
    message_id: str | None
    basis: str
