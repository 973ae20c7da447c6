"""``accord search …``: the node's search index — rebuild it, search it locally — and the
cross-border hit/no-hit search.

``reindex`` rebuilds the record half of the index from the records table (batches,
progress bar, bounded memory); ``local`` lets an officer at the node search its
records and alerts, audited as a read (:func:`accord.search.services.search_as_officer`).
The command line acts as the node operator unless ``--as USERNAME`` names an officer.
``query`` runs the hit/no-hit fan-out (:func:`accord.search.protocol.search_peers`, as
``POST /api/v1/search`` does) as the officer named by ``--as`` and prints, per peer
agency, hit / no-hit / no-answer / not-asked / refused with the band, the opaque
reference and, for a peer not asked, the clause and reason.

``linkage-key generate | set | list | retire`` keep the linkage secrets of the
privacy-preserving mode (docs/search-privacy.md), one per agreement and epoch: ``generate``
makes a random secret and writes it to a file (mode 0600) for the other party, who gives
that file to ``set``; both encode this node's index under the key at once. Output and the
audit trail name the agreement, the epoch and the key id — never the secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from accord.audit.tags import Action
from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run
from accord.cli.messages import _principal
from accord.cli.records import AsOpt, _reader
from accord.errors import AccordError, ValidationFailed
from accord.records.models import Record
from accord.search import index, private, protocol
from accord.search.linkage import LinkageInfo, parse_secret_text, secret_text
from accord.search.models import SearchEntry
from accord.search.schemas import Kind, SearchCreate, SearchResult
from accord.search.services import search_as_officer

app = typer.Typer(help="Search: the node's index of records and alerts.", no_args_is_help=True)


@app.command("reindex")
def reindex(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 2000,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild the index of this node's records (searches keep working meanwhile)."""

    def _do() -> index.ReindexReport:
        with node_of(ctx) as node:
            with node.read() as s:
                total = s.scalar(select(func.count()).select_from(Record)) or 0
            columns = (TextColumn("indexing records"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=err_console, disable=as_json) as progress:
                task = progress.add_task("records", total=total)
                return index.reindex(node, batch_size=batch_size, by="cli",
                                     progress=lambda n: progress.advance(task, n))

    report = run(_do)
    if as_json:
        emit_json(report.to_dict())
    else:
        console.print(f"{report.records} record(s) indexed: {report.entries} entries, "
                      f"{report.keys} keys, {report.removed} stale entries removed"
                      + (f"; encoded under {report.linkage_keys} linkage key(s)"
                         if report.linkage_keys else ""))


@app.command("local")
def local(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(index.KINDS)}.")],
    value: Annotated[str, typer.Argument(help="A name (any script) or an identifier.")],
    dob: Annotated[str | None, typer.Option("--dob", help="Date of birth YYYY[-MM[-DD]].")] = None,
    country: Annotated[str | None, typer.Option(
        help="Plate country, or the region of a phone number.")] = None,
    nationality: Annotated[str | None, typer.Option(help="A person's nationality.")] = None,
    gender: Annotated[str | None, typer.Option(help="A person's gender.")] = None,
    purpose: Annotated[str, typer.Option(
        help="prevention, detection, investigation or prosecution.")] = "investigation",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_user: AsOpt = None,
    as_json: bool = JsonOpt,
) -> None:
    """Search this node's records and alerts (audited)."""
    data: dict[str, Any] = {"kind": kind, "country": country}
    if kind.strip().lower() == "person":
        data.update(name=value, birth_date=dob, nationality=nationality, gender=gender)
    else:
        data["value"] = value

    def _do() -> Any:
        query = index.parse_query(data)
        with node_of(ctx) as node:
            return search_as_officer(node, query, reader=_reader(node, as_user), purpose=purpose,
                                     limit=limit, where="cli")

    result = run(_do)
    if as_json:
        emit_json({"hits": [{"source": h.source, "ref": h.ref, "owner": h.owner, "kind": h.kind,
                             "score": h.score, "band": h.band, "handling": h.handling,
                             "explanation": list(h.explanation)} for h in result.hits],
                   "withheld": result.withheld})
        return
    if not result.hits:
        console.print("no hit" + (f" ({result.withheld} withheld)" if result.withheld else ""))
        return
    table = Table("source", "ref", "owner", "band", "score", "why")
    for h in result.hits:
        why = "; ".join(f"{e['field']} {e['level']}" for e in h.explanation)
        table.add_row(h.source, h.ref, h.owner, h.band, f"{h.score:.3f}", why)
    console.print(table)
    if result.withheld:
        console.print(f"{result.withheld} hit(s) withheld (clearance or another country's record)")


_STYLE = {"hit": "bold green", "no-hit": "", "no-answer": "yellow", "not-asked": "dim",
          "refused": "red"}


def _search_create(data: dict[str, Any]) -> SearchCreate:
    """The request as the API would take it; a bad one is one clear line, not a traceback."""
    try:
        return SearchCreate(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "query"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(f"{where}: {msg}", field=where) from None


def _print_result(result: SearchResult) -> None:
    """One line per peer agency (soft-wrapped, so a reference is never cut)."""
    peers = {p.agency: p for p in result.peers}
    n = len(result.peers)
    console.print(f"search {result.query_id}: {result.hits} hit(s) from {n} peer "
                  f"agenc{'y' if n == 1 else 'ies'}", highlight=False)
    for answer in result.results[0].answers if result.results else []:
        peer = peers.get(answer.agency)
        outcome = answer.outcome.value
        parts = [f"  {answer.agency:<12}", f"[{_STYLE[outcome]}]{outcome}[/]"
                 if _STYLE.get(outcome) else outcome]
        if answer.band:
            parts.append(f"band {answer.band}")
        if answer.reference:
            parts.append(f"reference {answer.reference}")
        if peer is not None and peer.clause:
            parts.append(f"clause {peer.clause}")
        if peer is not None and outcome not in {"hit", "no-hit"}:
            parts += [x for x in (f"({peer.code})" if peer.code else "", peer.reason or "") if x]
        console.print(" ".join(parts), highlight=False, soft_wrap=True)


@app.command("query")
def query(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(k.value for k in Kind)}.")],
    value: Annotated[str, typer.Argument(help="A name (any script) or an identifier.")],
    as_: Annotated[str, typer.Option("--as", help="Ask as this officer (username).")],
    dob: Annotated[str | None, typer.Option("--dob", help="Date of birth YYYY[-MM[-DD]].")] = None,
    nationality: Annotated[str | None, typer.Option(help="A person's nationality.")] = None,
    gender: Annotated[str | None, typer.Option(help="male, female or other.")] = None,
    country: Annotated[str | None, typer.Option(
        help="Plate country, or the region of a phone number.")] = None,
    purpose: Annotated[str, typer.Option(
        help="prevention, detection, investigation or prosecution.")] = "investigation",
    crime_area: Annotated[str | None, typer.Option(help="ICCS code, e.g. 0601.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Ask the peers the agreements allow: hit or no hit, per peer agency (audited)."""
    data: dict[str, Any] = {"kind": kind.strip().lower(), "value": value, "dob": dob,
                            "nationality": nationality, "gender": gender, "country": country,
                            "purpose": purpose, "crime_area": crime_area}

    def _do() -> SearchResult:
        cmd = _search_create({k: v for k, v in data.items() if v is not None})
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            try:
                return protocol.search_peers(node, principal, cmd)
            except AccordError as exc:
                if exc.status < 500:  # audited after the rollback, as the API does
                    with node.uow() as s:
                        node.record_failure(s, actor=principal.actor,
                                            action=Action.SEARCH_FAILED, object="search:new",
                                            error=exc, credential=principal.audit_credential)
                raise

    result = run(_do)
    if as_json:
        emit_json(result.model_dump(mode="json"))
    else:
        _print_result(result)


# --------------------------------------------------------------------------- linkage keys

linkage = typer.Typer(help="Linkage secrets of the privacy-preserving search mode, one per "
                      "agreement and epoch (docs/search-privacy.md).", no_args_is_help=True)
app.add_typer(linkage, name="linkage-key")

AgreementOpt = Annotated[str, typer.Option("--agreement", help="The agreement id (its search "
                                           "clause says search_mode: bloom).")]
EpochOpt = Annotated[int | None, typer.Option(
    min=1, help="Key epoch (default: one above the highest held for the agreement).")]


@contextmanager
def _indexing(node: Any, disable: bool) -> Iterator[Callable[[int], None]]:
    with node.read() as s:
        total = s.scalar(select(func.count()).select_from(SearchEntry)
                         .where(SearchEntry.source == "record")) or 0
    columns = (TextColumn("encoding the index"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=disable) as progress:
        task = progress.add_task("entries", total=total)
        yield lambda n: progress.advance(task, n)


def _print_info(info: LinkageInfo, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(info.to_dict())
        return
    state = "index encoded" if info.indexed_at else "index not encoded yet"
    console.print(f"{verb} linkage key of {info.agreement}: epoch {info.epoch}, key id "
                  f"{info.key_id} ({state})", highlight=False)


def _write_secret(path: Path, secret: bytes) -> None:
    """The secret for the other party: mode 0600, never over an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationFailed(f"{path} exists; give a new file", field="out") from None
    except OSError as exc:
        raise ValidationFailed(f"cannot write {path}: {exc.strerror}", field="out") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secret_text(secret))


@linkage.command("generate")
def linkage_generate(
    ctx: typer.Context,
    agreement: AgreementOpt,
    out: Annotated[Path, typer.Option("--out", help="Write the new secret here (mode 0600, "
                                      "never overwritten) for the other party.")],
    epoch: EpochOpt = None,
    as_json: bool = JsonOpt,
) -> None:
    """Make a random secret for an agreement, hold it and encode the index under it; write
    it to --out, to be handed to the other party out of band (they run `set`)."""

    def _do() -> LinkageInfo:
        secret = os.urandom(32)
        _write_secret(out, secret)  # first: a secret held here is never one the peer cannot get
        try:
            with node_of(ctx) as node, _indexing(node, as_json) as progress:
                return private.set_linkage_key(node, agreement=agreement, secret=secret,
                                               by="cli", epoch=epoch, progress=progress)
        except BaseException:
            out.unlink(missing_ok=True)
            raise

    _print_info(run(_do), as_json, "generated")
    if not as_json:
        console.print(f"the secret is in {out}: hand it to the other party out of band, then "
                      "delete it", highlight=False)


@linkage.command("set")
def linkage_set(
    ctx: typer.Context,
    agreement: AgreementOpt,
    file: Annotated[Path, typer.Option("--file", help="The secret file (base64, one line) the "
                                       "other party generated.")],
    epoch: EpochOpt = None,
    as_json: bool = JsonOpt,
) -> None:
    """Hold the secret another party generated for an agreement; encode the index under it."""

    def _do() -> LinkageInfo:
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"cannot read {file}: {exc}", field="file") from None
        secret = parse_secret_text(text)
        with node_of(ctx) as node, _indexing(node, as_json) as progress:
            return private.set_linkage_key(node, agreement=agreement, secret=secret, by="cli",
                                           epoch=epoch, progress=progress)

    _print_info(run(_do), as_json, "set")


@linkage.command("list")
def linkage_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """The linkage keys this node holds (agreement, epoch, key id, state) — never a secret."""

    def _do() -> list[LinkageInfo]:
        with node_of(ctx) as node, node.read() as s:
            return node.linkage.infos(s)

    infos = run(_do)
    if as_json:
        emit_json([i.to_dict() for i in infos])
        return
    if not infos:
        console.print("no linkage key held")
        return
    table = Table("agreement", "epoch", "key id", "created", "index", "retired")
    for i in infos:
        table.add_row(i.agreement, str(i.epoch), i.key_id, i.created_at.isoformat(timespec="seconds"),
                      "encoded" if i.indexed_at else "not encoded",
                      i.retired_at.isoformat(timespec="seconds") if i.retired_at else "")
    console.print(table)


@linkage.command("retire")
def linkage_retire(
    ctx: typer.Context,
    agreement: AgreementOpt,
    epoch: Annotated[int, typer.Option(min=1, help="The epoch to stop using.")],
    as_json: bool = JsonOpt,
) -> None:
    """Stop using one epoch of an agreement's key: its index rows and sealed file go."""

    def _do() -> LinkageInfo:
        with node_of(ctx) as node:
            return private.retire_linkage_key(node, agreement=agreement, epoch=epoch, by="cli")

    _print_info(run(_do), as_json, "retired")
