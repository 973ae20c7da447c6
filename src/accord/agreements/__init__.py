"""Agreements as data and the policy decision point.

Build an agreement in code (the scenario generator does this) — constructors
take plain strings and any iterable, and check every value::

    from datetime import date
    from accord.agreements import Agreement, Clause, Deadline, Grant, dump_agreement

    grant = Grant(
        actions={"message", "request:information"},
        categories={"person", "vehicle", "phone"},
        crime_areas={"06", "0701"},          # ICCS codes, or {"all"}
        max_handling="H2",
        purposes={"investigation", "prosecution"},
        retention="P2Y",                       # ISO 8601 duration
        onward_transfer="with-owner-consent",  # default "forbidden"
        notify_owner=False,                    # default False
        search_mode="clear",                   # or "bloom": privacy-preserving search
        deadlines=[Deadline("information", "urgent", respond="P3D"),
                   Deadline("information", "normal", respond="P7D")],
    )
    agreement = Agreement(
        id="es-ma-police", version=1, title="Spain–Morocco police cooperation (model)",
        instrument="bilateral-treaty", parties=("ES", "MA"),
        valid_from=date(2024, 1, 1),           # or "2024-01-01"
        clauses=(Clause(id="art-3", text="The Parties shall exchange…", grants=grant,
                        from_parties=None, to_parties=None),),  # None = both directions
        languages=("es", "fr", "ar"),
    )
    text = dump_agreement(agreement)          # YAML; load_agreements(text) == [agreement]

Optional ``Agreement`` fields: ``valid_until``, ``amends``, ``languages``,
``points_of_contact`` (``PointOfContact(agency, role, channel, crime_areas)``),
``reference``. An amendment is a new ``Agreement`` with the same ``id``,
``version + 1``, ``amends=<old version>``; end the old one with
``dataclasses.replace(old, valid_until=...)`` so versions do not overlap.

Decide::

    from datetime import UTC, datetime
    from accord.agreements import Actor, Resource, decide, load_registry

    registry = load_registry("examples/agreements")
    decision = decide(Actor("ES-PN", "FR-PN"), "message",
                      Resource({"person", "phone"}, "0601", "H2"),
                      "investigation", datetime.now(UTC), registry=registry)
    decision.allowed, decision.code, decision.reason, decision.basis, decision.obligations
    decision.require()   # raises accord.errors.PolicyDenied on a deny

Validate: ``validate_paths([...])`` returns a report with every issue (file,
line, field, code, message); ``load_*`` raise :class:`AgreementInvalid`.
"""

from accord.agreements.codec import agreement_to_data, dump_agreement, dump_agreements
from accord.agreements.domain import (
    ALL_CRIME_AREAS,
    Action,
    Actor,
    Agreement,
    Basis,
    Category,
    Clause,
    Deadline,
    DeadlineStage,
    Decision,
    DecisionCode,
    Grant,
    Handling,
    Instrument,
    Obligations,
    OnwardTransfer,
    PointOfContact,
    Purpose,
    RequestType,
    Resource,
    SearchMode,
    Urgency,
)
from accord.agreements.duration import Duration, DurationError, parse_duration
from accord.agreements.errors import (
    AgreementConflict,
    AgreementInvalid,
    AgreementNotFound,
    AgreementsDirMissing,
    DeadlineNotDefined,
)
from accord.agreements.iccs import iccs_codes, iccs_name, is_iccs_code
from accord.agreements.loader import load_agreement_file, load_agreements
from accord.agreements.pdp import deadline_for, decide
from accord.agreements.registry import (
    AGREEMENTS_DIR_ENV,
    Registry,
    default_agreements_dir,
    load_registry,
    resolve_agreements_dir,
)
from accord.agreements.schema import agreement_schema
from accord.agreements.source import Issue
from accord.agreements.validate import ValidationReport, validate_paths

__all__ = [
    "AGREEMENTS_DIR_ENV",
    "ALL_CRIME_AREAS",
    "Action",
    "Actor",
    "Agreement",
    "AgreementConflict",
    "AgreementInvalid",
    "AgreementNotFound",
    "AgreementsDirMissing",
    "Basis",
    "Category",
    "Clause",
    "Deadline",
    "DeadlineNotDefined",
    "DeadlineStage",
    "Decision",
    "DecisionCode",
    "Duration",
    "DurationError",
    "Grant",
    "Handling",
    "Instrument",
    "Issue",
    "Obligations",
    "OnwardTransfer",
    "PointOfContact",
    "Purpose",
    "Registry",
    "RequestType",
    "Resource",
    "SearchMode",
    "Urgency",
    "ValidationReport",
    "agreement_schema",
    "agreement_to_data",
    "deadline_for",
    "decide",
    "default_agreements_dir",
    "dump_agreement",
    "dump_agreements",
    "iccs_codes",
    "iccs_name",
    "is_iccs_code",
    "load_agreement_file",
    "load_agreements",
    "load_registry",
    "parse_duration",
    "resolve_agreements_dir",
    "validate_paths",
]
