"""``accord scenario …``: synthetic training scenarios with ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from accord.cli.common import JsonOpt, console, emit_json, err_console, run
from accord.training.scenario import ScenarioSummary, generate_scenario

app = typer.Typer(
    help="Synthetic scenarios: parties, agreements, FtM records and their ground truth.",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Synthetic scenarios (keeps ``generate`` a sub-command when used on its own)."""


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (empty, or an earlier "
                                      "scenario, which is replaced).", file_okay=False)],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 1,
    countries: Annotated[str, typer.Option("--countries", help="ISO 3166-1 alpha-2 codes, "
                                           "comma-separated.")] = "ES,FR,MA",
    persons: Annotated[int, typer.Option("--persons", min=1, help="Real persons to "
                                         "create (records are more).")] = 5000,
    as_json: bool = JsonOpt,
) -> None:
    """Write a deterministic scenario: parties.json, agreements/, records/, ground_truth.json."""

    def _do() -> tuple[ScenarioSummary, float]:
        started = time.perf_counter()
        with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("persons"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=err_console, disable=as_json, transient=False) as progress:
            task = progress.add_task("persons", total=persons)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = generate_scenario(seed, countries, persons, out, progress=tick)
        return summary, time.perf_counter() - started

    summary, seconds = run(_do)
    if as_json:
        emit_json({
            "out": str(summary.out_dir),
            "seed": summary.seed,
            "countries": list(summary.countries),
            "persons": summary.persons,
            "person_records": summary.person_records,
            "entities": summary.entities,
            "cross_border_persons": summary.cross_border_persons,
            "networks": summary.networks,
            "agreements": list(summary.agreements),
            "seconds": round(seconds, 2),
        })
        return
    table = Table("file", "entities", title=f"scenario seed {summary.seed} → {summary.out_dir}")
    for country, count in summary.entities.items():
        table.add_row(f"records/{country}.ftm.jsonl", f"{count:,}")
    for name in summary.agreements:
        table.add_row(f"agreements/{name}", "")
    table.add_row("parties.json", "")
    table.add_row("ground_truth.json", "")
    console.print(table)
    console.print(
        f"{summary.persons:,} persons, {summary.person_records:,} person records, "
        f"{summary.cross_border_persons:,} recorded in several countries, "
        f"{summary.networks} network(s), {seconds:.1f} s"
    )
