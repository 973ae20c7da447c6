"""``accord alerts …``: issue, list, show and withdraw alerts; hits; a reminder round.

Commands act as the officer named by ``--as USERNAME`` (their agency, roles and
clearance apply exactly as through the API). Issuing and withdrawing only queue
the envelopes to peers: the running node's delivery worker sends them
(``accord messages deliver`` sends them from here for a node that is not serving).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from accord.alerts import reminders, services
from accord.alerts.schemas import AlertCreate, AlertPublic, AlertSummary, HitPublic
from accord.cli.common import JsonOpt, console, emit_json, node_of, run
from accord.cli.messages import _principal
from accord.errors import ValidationFailed

app = typer.Typer(help="Alerts: persons and objects sought, propagated to peers; hits.",
                  no_args_is_help=True)

AsOpt = Annotated[str, typer.Option("--as", help="Act as this officer (username).")]


def _subject(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"cannot read the subject from {path}: {exc}",
                               field="subject") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("the subject is one FtM entity (a JSON object)", field="subject")
    return data


def _when(value: str | None, default: datetime | None = None) -> datetime | None:
    if value is None:
        return default
    if value.endswith("d") and value[:-1].isdigit():  # 90d: days from now
        return datetime.now(UTC) + timedelta(days=int(value[:-1]))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{value!r} is not a date (YYYY-MM-DD[THH:MM]) or Nd",
                               field="date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print_alert(data: dict[str, Any]) -> None:
    console.print(f"[bold]alert {data['alert_id']}[/] {data['type']} — {data['subject_caption']} "
                  f"({data['state']}, {data['handling']}, {data['origin']} of {data['issuer']})")
    console.print(f"  valid until {data['valid_until']}, review {data['review_at']}")
    console.print(f"  action on a hit: {data['action']}")
    for agency, p in sorted((data.get("propagation") or {}).items()):
        if p.get("state") == "refused":
            console.print(f"  [red]{agency}: refused[/] ({p.get('code')}) {p.get('reason')}")
        else:
            console.print(f"  {agency}: {p.get('state')} ({p.get('clause')})")


@app.command()
def create(
    ctx: typer.Context, as_: AsOpt,
    type_: Annotated[str, typer.Option("--type", help="arrest, missing-person, discreet-check, "
                                       "specific-check, refusal-of-entry, stolen-object, witness.")],
    subject: Annotated[Path, typer.Option(help="JSON file with the subject (one FtM entity).")],
    valid_until: Annotated[str, typer.Option(help="End of validity: YYYY-MM-DD or Nd.")] = "365d",
    review: Annotated[str | None, typer.Option(help="Review date: YYYY-MM-DD or Nd.")] = None,
    action: Annotated[str | None, typer.Option(help="Action to take on a hit.")] = None,
    remarks: Annotated[str, typer.Option(help="Remarks for the peers.")] = "",
    handling: Annotated[str, typer.Option(help="Handling code H0–H3.")] = "H1",
    crime_area: Annotated[str | None, typer.Option(help="ICCS code, e.g. 0601.")] = None,
    purpose: Annotated[str, typer.Option(help="prevention, detection, investigation, prosecution.")] = "detection",
    as_json: bool = JsonOpt,
) -> None:
    """Issue an alert and propagate it as the agreements allow."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            try:
                cmd = AlertCreate.model_validate({
                    "type": type_, "subject": _subject(subject), "action": action,
                    "remarks": remarks, "crime_area": crime_area, "handling": handling,
                    "purpose": purpose, "valid_until": _when(valid_until),
                    "review_at": _when(review)})
            except ValidationError as exc:
                raise ValidationFailed(str(exc.errors()[0]["msg"])) from None
            data = services.audited(
                node, actor=principal.actor, obj="alert:new", credential=principal.audit_credential,
                fn=lambda s: AlertPublic.model_validate(
                    services.create_alert(node, s, principal, cmd)).model_dump(mode="json"))
        emit_json(data) if as_json else _print_alert(data)

    run(_do)


@app.command("list")
def list_(
    ctx: typer.Context, as_: AsOpt,
    state: Annotated[str | None, typer.Option(help="active, withdrawn or expired.")] = None,
    origin: Annotated[str | None, typer.Option(help="own or foreign.")] = None,
    limit: int = 50, as_json: bool = JsonOpt,
) -> None:
    """The alerts your agency issued or received."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"alerts:{principal.agency_id}",
                credential=principal.audit_credential,
                fn=lambda s: [AlertSummary.model_validate(a).model_dump(mode="json")
                              for a in services.list_alerts(node, s, principal, state=state,
                                                            origin=origin, limit=limit)])
        if as_json:
            emit_json(data)
            return
        table = Table("alert", "type", "subject", "issuer", "origin", "state", "valid until")
        for a in data:
            table.add_row(a["alert_id"], a["type"], a["subject_caption"], a["issuer"], a["origin"],
                          a["state"], a["valid_until"])
        console.print(table)

    run(_do)


@app.command()
def show(ctx: typer.Context, alert_id: str, as_: AsOpt, as_json: bool = JsonOpt) -> None:
    """One alert of your agency."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"alert:{alert_id}",
                credential=principal.audit_credential,
                fn=lambda s: AlertPublic.model_validate(
                    services.get_alert(node, s, principal, alert_id)).model_dump(mode="json"))
        emit_json(data) if as_json else _print_alert(data)

    run(_do)


@app.command()
def withdraw(ctx: typer.Context, alert_id: str, as_: AsOpt,
             reason: Annotated[str, typer.Option(help="Why (sent to the peers).")] = "",
             as_json: bool = JsonOpt) -> None:
    """Withdraw an alert of your agency, here and on every peer it reached."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"alert:{alert_id}",
                credential=principal.audit_credential,
                fn=lambda s: AlertPublic.model_validate(services.withdraw_alert(
                    node, s, principal, alert_id, reason)).model_dump(mode="json"))
        emit_json(data) if as_json else _print_alert(data)

    run(_do)


@app.command()
def hits(ctx: typer.Context, as_: AsOpt,
         alert: Annotated[str | None, typer.Option(help="Only this alert's hits.")] = None,
         as_json: bool = JsonOpt) -> None:
    """Hit follow-ups your agency is party to, with the answer deadline."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"alert-hits:{principal.agency_id}",
                credential=principal.audit_credential,
                fn=lambda s: [HitPublic.model_validate(h).model_dump(mode="json")
                              for h in services.list_hits(node, s, principal, alert_id=alert)])
        if as_json:
            emit_json(data)
            return
        table = Table("hit", "alert", "issuer", "who", "where", "when", "band", "answer due")
        for h in data:
            table.add_row(h["hit_id"], h["alert_id"], h["issuer"], h["officer"],
                          f"{h['node_id']}" + (f" ({h['place']})" if h["place"] else ""),
                          h["at"], h["band"], h["answer_due"])
        console.print(table)

    run(_do)


@app.command()
def remind(ctx: typer.Context) -> None:
    """Run one round of review and expiry reminders (the serving node does it periodically)."""
    def _do() -> None:
        with node_of(ctx) as node:
            done = reminders.run_reminders(node)
        console.print(f"{done} reminder(s) written or alert copies expired")

    run(_do)
