"""``accord policy …``: ask the policy decision point and show why."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from accord.agreements import (
    Action,
    Actor,
    Category,
    DeadlineStage,
    Decision,
    Handling,
    Purpose,
    Registry,
    RequestType,
    Resource,
    Urgency,
    deadline_for,
    decide,
    load_registry,
    resolve_agreements_dir,
)
from accord.clock import SystemClock, parse_instant
from accord.errors import AccordError

app = typer.Typer(
    help="Policy: explain what the agreements allow, and why.",
    no_args_is_help=True,
)

AgreementsOpt = Annotated[
    Path | None,
    typer.Option(
        "--agreements",
        help="Folder of agreement files (default: $ACCORD_AGREEMENTS_DIR).",
        file_okay=False,
    ),
]


def _err(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(message, markup=False)
    return typer.Exit(code=2)


def _registry(folder: Path | None) -> Registry:
    try:
        return load_registry(resolve_agreements_dir(folder))
    except AccordError as exc:
        raise _err(f"{exc.title}: {exc.detail}") from None


def parse_at(text: str | None) -> datetime:
    """``--at``: a date (00:00 UTC) or a datetime (naive means UTC); default now."""
    if not text:
        return SystemClock().now().replace(microsecond=0)
    try:
        return parse_instant(text)
    except ValueError:
        raise _err(f"--at {text!r}: expected YYYY-MM-DD or an ISO 8601 datetime") from None


def _enum(kind: Any, value: str, option: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _err(f"{option} {value!r}: expected one of {allowed}") from None


def _render(decision: Decision, registry: Registry) -> Panel:
    body = Text()
    body.append(decision.reason + "\n")
    body.append(f"code: {decision.code.value}\n", style="dim")
    if decision.basis is not None:
        basis = decision.basis
        agreement = registry.get(basis.agreement_id, basis.version)
        clause = agreement.clause(basis.clause_id)
        body.append("\nagreement: ", style="bold")
        body.append(f"{agreement.id} v{agreement.version} – {agreement.title}\n")
        body.append("clause: ", style="bold")
        body.append(f"{clause.id}\n")
        excerpt = " ".join(clause.text.split())
        if len(excerpt) > 240:
            excerpt = excerpt[:237] + "…"
        body.append(f"“{excerpt}”\n", style="italic")
    if decision.obligations is not None:
        body.append("\nobligations:\n", style="bold")
        for line in decision.obligations.describe():
            body.append(f"  • {line}\n")
    title = "[bold green]ALLOW[/]" if decision.allowed else "[bold red]DENY[/]"
    return Panel(body, title=title, border_style="green" if decision.allowed else "red")


@app.command("explain")
def explain(
    from_: Annotated[str, typer.Option("--from", help="Acting agency (ES-PN) or country.")],
    to: Annotated[str, typer.Option("--to", help="Counterpart agency (FR-PN) or country.")],
    action: Annotated[str, typer.Option(help="message, hit-no-hit-search, request:eio, …")],
    purpose: Annotated[str, typer.Option(help="prevention, detection, investigation, prosecution")],
    categories: Annotated[str, typer.Option(help="Comma-separated data categories (person,phone).")] = "",
    crime_area: Annotated[str | None, typer.Option("--crime-area", help="ICCS code (0601).")] = None,
    handling: Annotated[str, typer.Option(help="Handling code H0–H3.")] = "H0",
    clearance: Annotated[str | None, typer.Option(help="Officer clearance H0–H3 (optional).")] = None,
    officer: Annotated[str | None, typer.Option(help="Officer id (optional).")] = None,
    at: Annotated[str | None, typer.Option(help="When (YYYY-MM-DD or ISO datetime; default now).")] = None,
    agreements: AgreementsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Allow with the clause and obligations, or deny with the reason. Exit 0 allow, 1 deny."""
    registry = _registry(agreements)
    cats = [c.strip() for c in categories.split(",") if c.strip()]

    resource = Resource(
        frozenset(_enum(Category, c, "--categories") for c in cats),
        crime_area,
        _enum(Handling, handling, "--handling"),
    )
    actor = Actor(
        from_,
        to,
        officer=officer,
        clearance=None if clearance is None else _enum(Handling, clearance, "--clearance"),
    )
    when = parse_at(at)
    decision = decide(
        actor,
        _enum(Action, action, "--action"),
        resource,
        _enum(Purpose, purpose, "--purpose"),
        when,
        registry=registry,
    )
    if as_json:
        data = {
            "decision": decision.to_dict(),
            "request": {
                "actor": actor.to_dict(),
                "action": action,
                "resource": resource.to_dict(),
                "purpose": purpose,
                "at": when.isoformat(),
            },
        }
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        Console(highlight=False, soft_wrap=False).print(_render(decision, registry))
    if not decision.allowed:
        raise typer.Exit(code=1)


@app.command("deadline")
def deadline(
    agreement_id: Annotated[str, typer.Option("--agreement", help="Agreement id.")],
    request: Annotated[str, typer.Option(help="Request type (information, eio, …).")],
    urgency: Annotated[str, typer.Option(help="urgent-direct, urgent, high, normal.")] = "normal",
    stage: Annotated[str, typer.Option(help="respond, decide, decide_extension.")] = "respond",
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    agreements: AgreementsOpt = None,
) -> None:
    """The deadline an agreement sets for a request type and urgency."""
    registry = _registry(agreements)
    try:
        agreement = registry.get(agreement_id, version)
        delta = deadline_for(
            agreement,
            _enum(RequestType, request, "--request"),
            _enum(Urgency, urgency, "--urgency"),
            _enum(DeadlineStage, stage, "--stage"),
        )
    except AccordError as exc:
        raise _err(f"{exc.title}: {exc.detail}") from None
    hours = int(delta.total_seconds() // 3600)
    text = f"{delta.days} day(s)" if delta.seconds == 0 else f"{hours} hour(s)"
    Console(highlight=False).print(
        f"{agreement.id} v{agreement.version}: {stage} deadline for '{request}' ({urgency}) is {text}",
        markup=False,
    )
