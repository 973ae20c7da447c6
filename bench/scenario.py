"""Benchmark: scenario generation speed against plain JSON-lines writing.

    .venv/bin/python bench/scenario.py [--persons 100000] [--seed 1] [--countries ES,FR,MA]

Runs ``generate_scenario`` once into a temporary folder and then, as the
baseline in the same run, writes the same number of lines (one per entity the
generator wrote, split over the same per-country files) of plain dicts with
``json.dumps``: no names, no ids, no FtM shape — the floor for writing that
much JSON from Python on this machine. Prints persons/second, entities/second,
the ratio generator/baseline, and whether the 60-second target for 100,000
persons holds.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from accord.training.scenario import generate_scenario

TARGET_SECONDS = 60.0
SAMPLE = 50_000


def ftm_costs(path: Path) -> tuple[float, float, int]:
    """Seconds per entity to build through ``make_entity``/``add`` and to validate with
    ``get_proxy(cleaned=False)``, over the first ``SAMPLE`` entities of one file."""
    from followthemoney import model

    entities = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n >= SAMPLE:
                break
            entities.append(json.loads(line)["entity"])
    started = time.perf_counter()
    for data in entities:
        proxy = model.make_entity(data["schema"])
        proxy.id = data["id"]
        for prop, values in data["properties"].items():
            proxy.add(prop, values)
        proxy.to_dict()
    build = (time.perf_counter() - started) / len(entities)
    started = time.perf_counter()
    for data in entities:
        model.get_proxy(data, cleaned=False).to_dict()
    check = (time.perf_counter() - started) / len(entities)
    return build, check, len(entities)


def baseline(out: Path, lines_per_country: dict[str, int]) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    for country, lines in lines_per_country.items():
        with (out / f"{country}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(lines):
                row = {
                    "entity": {"id": f"{country}-{i}", "schema": "Person",
                               "properties": {"name": [f"Person {i}"],
                                              "birthDate": ["1980-01-01"]}},
                    "meta": {"owner": f"{country}-PN", "handling": "H1",
                             "n": rng.random()},
                }
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True))
                fh.write("\n")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--countries", default="ES,FR,MA")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="accord-bench-scenario-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        summary = generate_scenario(args.seed, args.countries, args.persons, root / "scenario")
        generated = time.perf_counter() - started
        (root / "baseline").mkdir()
        base = baseline(root / "baseline", summary.entities)
        first = summary.countries[0]
        build, check, sampled = ftm_costs(root / "scenario" / "records" / f"{first}.ftm.jsonl")
    entities = summary.total_entities
    print(f"scenario: {args.persons:,} persons, {summary.person_records:,} person records, "
          f"{entities:,} entities, countries {','.join(summary.countries)}, seed {args.seed}")
    print(f"generator: {generated:7.2f} s  {args.persons / generated:10,.0f} persons/s  "
          f"{entities / generated:10,.0f} entities/s")
    print(f"baseline : {base:7.2f} s  {entities / base:10,.0f} lines/s (json.dumps of plain "
          "dicts, same line count)")
    print(f"ratio generator/baseline: {generated / base:.2f}x")
    print(f"FtM make_entity+add: {build * 1e6:6.1f} µs/entity, get_proxy check: "
          f"{check * 1e6:6.1f} µs/entity (sample of {sampled:,}); for all {entities:,} "
          f"entities: +{build * entities:.1f} s / +{check * entities:.1f} s")
    projected = generated * 100_000 / args.persons
    verdict = "OK" if projected < TARGET_SECONDS else "TOO SLOW"
    print(f"100,000 persons: {projected:.1f} s (target < {TARGET_SECONDS:.0f} s) {verdict}")


if __name__ == "__main__":
    main()
