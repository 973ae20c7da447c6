"""The local demo federation: three nodes, three countries, one command.

Each node is its own ``accord serve`` process with its own SQLite database and
keys, on 127.0.0.1 ports 8401, 8402, …; they are pinned to each other as peers
by fingerprint. Data is kept under the base folder and reused by the next run
unless ``fresh`` is asked. A node process that stops ends the demo, or, with
``keep_going``, is reported with the command that starts it again by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx

from accord.agreements import Registry, load_registry
from accord.auth.domain import Operator
from accord.bootstrap import Node, build_node
from accord.errors import AccordError, ConfigurationError
from accord.lifecycle import AgencySpec, init_node
from accord.parties import services as parties
from accord.parties.domain import check_country
from accord.parties.remote import fetch_descriptor
from accord.settings import load_settings

# Two agencies per country: real-world-like names for the default countries.
KNOWN_AGENCIES: dict[str, list[AgencySpec]] = {
    "ES": [AgencySpec("ES-PN", "Policía Nacional", "police"),
           AgencySpec("ES-SVA", "Servicio de Vigilancia Aduanera", "customs")],
    "FR": [AgencySpec("FR-PN", "Police nationale", "police"),
           AgencySpec("FR-DGDDI", "Direction générale des douanes", "customs")],
    "MA": [AgencySpec("MA-DGSN", "Direction générale de la sûreté nationale", "police"),
           AgencySpec("MA-ADII", "Administration des douanes et impôts indirects", "customs")],
    "DE": [AgencySpec("DE-BKA", "Bundeskriminalamt", "police"),
           AgencySpec("DE-ZOLL", "Zoll", "customs")],
    "IT": [AgencySpec("IT-PS", "Polizia di Stato", "police"),
           AgencySpec("IT-ADM", "Agenzia delle Dogane e dei Monopoli", "customs")],
}
Say = Callable[[str], None]
DEMO_PASSWORD_SUFFIX = "-demo-password"
# The demo is the node operator: it creates and enrols its officers at once, so it can
# print their logins (a real officer enrols with a one-time code; see docs/operations.md).
DEMO = Operator("demo")
# The sample agreements of the source tree (models of EU instruments and ES/FR/MA
# bilateral ones): what ``accord demo --no-scenario`` installs, so its nodes can exchange.
SAMPLE_AGREEMENTS = Path(__file__).resolve().parents[2] / "examples" / "agreements"


def agencies_for(country: str) -> list[AgencySpec]:
    return KNOWN_AGENCIES.get(country, [
        AgencySpec(f"{country}-POL", f"{country} national police", "police"),
        AgencySpec(f"{country}-CUS", f"{country} customs", "customs"),
    ])


@dataclass
class DemoLogin:
    username: str
    agency: str
    roles: list[str]
    clearance: str
    password: str
    totp_secret: str


@dataclass
class DemoNode:
    country: str
    node_id: str
    port: int
    data_dir: Path
    url: str
    logins: list[DemoLogin] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None  # where its process writes (set when started)

    def serve_argv(self) -> list[str]:
        """The command that runs this node's server (what the demo starts)."""
        return [sys.executable, "-m", "accord", "--data-dir", str(self.data_dir), "serve"]

    def serve_command(self) -> str:
        """:meth:`serve_argv` as one shell line, for an operator to run by hand."""
        return shlex.join(self.serve_argv())


def demo_officers(country: str, agencies: list[AgencySpec]) -> list[tuple[str, str, list[str], str]]:
    """(username, agency, roles, clearance): easy-to-type demo logins for a country's node."""
    first, second = agencies[0], agencies[-1]
    cc = country.lower()
    return [
        (f"{cc}.admin", first.id, ["admin"], "H1"),
        (f"{cc}.officer", first.id, ["officer"], "H2"),
        (f"{cc}.analyst", first.id, ["analyst", "officer"], "H3"),
        (f"{cc}.spoc", first.id, ["spoc", "officer"], "H2"),
        (f"{cc}.dpo", first.id, ["dpo"], "H1"),
        (f"{cc}.customs", second.id, ["officer"], "H1"),
    ]


@dataclass(frozen=True)
class ScenarioSpec:
    """Which synthetic scenario fills the demo (see docs/scenarios.md)."""

    seed: int = 7
    persons: int = 2000


def ensure_scenario(base: Path, countries: list[str], spec: ScenarioSpec, say: Say = print) -> Path:
    """Generate the scenario once under ``base/scenario``; reuse it on later runs."""
    from accord.training.scenario import generate_scenario

    out = base / "scenario"
    parties_file = out / "parties.json"
    if parties_file.exists():
        made_for = json.loads(parties_file.read_text(encoding="utf-8")).get("countries", [])
        codes = sorted(c.get("code", c) if isinstance(c, dict) else c for c in made_for)
        if codes != sorted(countries):
            raise ConfigurationError(
                f"the demo data in {base} was made for {', '.join(codes)}; use --fresh to start over")
        return out
    say(f"generating the synthetic scenario (seed {spec.seed}, {spec.persons} persons) …")
    generate_scenario(spec.seed, countries, spec.persons, out)
    return out


def _scenario_parties(scenario: Path, country: str) -> tuple[list[AgencySpec], list[dict[str, Any]]]:
    data = json.loads((scenario / "parties.json").read_text(encoding="utf-8"))
    agencies = [AgencySpec(a["id"], a["name"], a["kind"]) for a in data["agencies"]
                if a["country"] == country]
    ids = {a.id for a in agencies}
    officers = [o for o in data["officers"] if o["agency"] in ids]
    return agencies, officers


def _fill_from_scenario(node: Node, dn: DemoNode, scenario: Path,
                        officers: list[dict[str, Any]]) -> list[str]:
    """Scenario officers, agreements and this country's records into the node."""
    lines = []
    with node.uow() as s:
        for o in officers:
            password = o["username"] + DEMO_PASSWORD_SUFFIX
            new = parties.provision_officer(node, s, username=o["username"],
                                            display_name=o["display_name"], agency_id=o["agency"],
                                            roles=o["roles"], clearance=o["clearance"],
                                            password=password, by=DEMO)
            lines.append("\t".join([o["username"], o["agency"], ",".join(o["roles"]),
                                    o["clearance"], password, new.totp_secret]))
    install_agreements(dn.data_dir / "agreements", scenario / "agreements")
    records = scenario / "records" / f"{dn.country}.ftm.jsonl"
    if records.exists():
        from accord.records.services import import_records

        with records.open("rb") as fh:
            report = import_records(node, fh, by="demo", source=str(records))
        if report.errors:
            raise ConfigurationError(f"{len(report.errors)} scenario records of {dn.country} "
                                     f"failed to import; first: {report.errors[0]}")
    return lines


def prepare_node(base: Path, country: str, port: int, scenario: Path | None = None,
                 database_url: str | None = None) -> DemoNode:
    """Create the country's node on first use (with the scenario's data); reuse it after.

    ``database_url`` puts the node on that database (e.g. PostgreSQL) instead of SQLite.
    """
    node_id = f"{country.lower()}-node"
    data_dir = base / node_id
    url = f"http://127.0.0.1:{port}"
    dn = DemoNode(country, node_id, port, data_dir, url)
    secrets_file = data_dir / "demo-logins.txt"
    if not (data_dir / "accord.toml").exists():
        agencies, officers = (_scenario_parties(scenario, country) if scenario is not None
                              else (agencies_for(country), []))
        if len(agencies) < 1:
            raise ConfigurationError(f"the scenario has no agencies for {country}")
        try:
            _create_demo_node(dn, agencies, officers, scenario, database_url)
        except BaseException:
            shutil.rmtree(data_dir, ignore_errors=True)  # half-made: start over next time
            raise
    for line in secrets_file.read_text().splitlines():
        user, agency_id, role_list, level, secret_word, totp = line.split("\t")
        dn.logins.append(DemoLogin(user, agency_id, role_list.split(","), level, secret_word, totp))
    return dn


def _create_demo_node(dn: DemoNode, agencies: list[AgencySpec], officers: list[dict[str, Any]],
                      scenario: Path | None, database_url: str | None = None) -> None:
    country, secrets_file = dn.country, dn.data_dir / "demo-logins.txt"
    settings = init_node(dn.data_dir, node_id=dn.node_id, country=country, agencies=agencies,
                         port=dn.port, mode="development", database_url=database_url)
    node = build_node(settings)
    try:
        lines = []
        with node.uow() as s:
            for username, agency, roles, clearance in demo_officers(country, agencies):
                password = username + DEMO_PASSWORD_SUFFIX
                new = parties.provision_officer(node, s, username=username,
                                                display_name=username, agency_id=agency,
                                                roles=roles, clearance=clearance,
                                                password=password, by=DEMO)
                lines.append("\t".join([username, agency, ",".join(roles), clearance,
                                        password, new.totp_secret]))
        if scenario is not None:
            lines += _fill_from_scenario(node, dn, scenario, officers)
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    finally:
        node.dispose()


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then raise it.

    A KeyboardInterrupt inside ``subprocess.Popen`` can come after the child exists but
    before ``Popen`` returns: nobody would hold the process to stop it. Outside the main
    thread (where no signal handler runs) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, _frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got and callable(old):  # Python's own handler raises KeyboardInterrupt
        old(got[0], None)
    elif got and old != signal.SIG_IGN:
        raise KeyboardInterrupt


def _start(dn: DemoNode, log_dir: Path) -> None:
    dn.log = log_dir / f"{dn.node_id}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    with _ctrl_c_deferred(), open(dn.log, "ab") as log:  # the child keeps its own copy
        dn.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            dn.serve_argv(), stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )


def _wait_healthy(dn: DemoNode, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dn.process is not None and dn.process.poll() is not None:
            raise ConfigurationError(
                f"{dn.node_id} exited with {dn.process.returncode}; see its log")
        try:
            if httpx.get(dn.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ConfigurationError(f"{dn.node_id} did not answer on {dn.url} within {timeout:.0f} s")


def _pin_all(nodes: list[DemoNode]) -> None:
    """Each node pins every other, by the fingerprint read from the other's own store."""
    fingerprints: dict[str, str] = {}
    for dn in nodes:
        node = build_node(load_settings(data_dir=dn.data_dir))
        try:
            with node.uow() as s:
                fingerprints[dn.node_id] = parties.node_descriptor(node, s)["fingerprint"]
        finally:
            node.dispose()

    for dn in nodes:
        node = build_node(load_settings(data_dir=dn.data_dir))
        try:
            with node.uow() as s:
                for other in nodes:
                    if other is not dn:
                        parties.add_peer(node, s, url=other.url,
                                         expected_fingerprint=fingerprints[other.node_id],
                                         fetch=fetch_descriptor, actor="demo")
        finally:
            node.dispose()


def stop_all(nodes: list[DemoNode], timeout: float = 15.0) -> None:
    for dn in nodes:
        if dn.process is not None and dn.process.poll() is None:
            dn.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for dn in nodes:
        if dn.process is None:
            continue
        try:
            dn.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            dn.process.kill()
            dn.process.wait()



def free_port_block(count: int, *, tries: int = 200) -> int:
    """A first port such that ``count`` consecutive loopback ports are free right now."""
    rng = random.Random()  # noqa: S311 - picking ports, not secrets
    for _ in range(tries):
        start = rng.randint(20000, 60000 - count)
        sockets: list[socket.socket] = []
        try:
            for i in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", start + i))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise ConfigurationError(f"no {count} consecutive free ports found on 127.0.0.1")


def install_agreements(target: Path, source: Path) -> int:
    """Copy the agreements (YAML) from ``source`` into a node's agreements folder."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.glob("*.y*ml")):
        shutil.copyfile(path, target / path.name)
        count += 1
    return count


def _has_agreements(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.y*ml"))


def install_sample_agreements(nodes: list[DemoNode], say: Say = print,
                              source: Path = SAMPLE_AGREEMENTS) -> list[tuple[str, str]]:
    """Give every node without agreements the sample ones (``--no-scenario``) and say what is
    still missing. Returns the pairs of countries whose nodes cannot exchange (some node of
    the pair has no agreement naming both, or none it can read).

    A node that holds agreement files already keeps them (an operator's own, or those of an
    earlier run). Without the samples (Accord installed without its source tree) nothing
    is installed, and the message says how to add agreements: with no agreement every
    flow between countries is refused.
    """
    bare = [dn for dn in nodes if not _has_agreements(dn.data_dir / "agreements")]
    if bare and not _has_agreements(source):
        say(f"no sample agreements found ({source} is part of Accord's source tree): "
            f"{', '.join(dn.node_id for dn in bare)} hold(s) no agreement, so every message "
            "between countries will be refused. Add agreements: run accord demo with "
            "--agreements DIR (a folder of agreement YAML files, see docs/agreements.md), or "
            "copy them into each node's agreements folder "
            f"({bare[0].data_dir / 'agreements'}, …); they are read within seconds.")
        return [(a.country, b.country) for a, b in combinations(nodes, 2)
                if a in bare or b in bare]
    for dn in bare:
        install_agreements(dn.data_dir / "agreements", source)
    if bare:
        say(f"installed the sample agreements ({source}) into "
            f"{', '.join(dn.node_id for dn in bare)}")
    registries = {dn.node_id: _read_agreements(dn, say) for dn in nodes}
    uncovered = []
    for a, b in combinations(nodes, 2):
        unread = [dn for dn in (a, b) if registries[dn.node_id] is None]
        lacking = [dn.node_id for dn in (a, b)
                   if dn not in unread and not _covers(registries[dn.node_id], a, b)]
        if unread or lacking:
            uncovered.append((a.country, b.country))
        if lacking:
            say(f"no agreement between {a.country} and {b.country} in the agreements of "
                f"{' and '.join(lacking)}: messages between them will be refused (add one with "
                f"--agreements DIR, see docs/agreements.md)")
    return uncovered


def _read_agreements(dn: DemoNode, say: Say) -> Registry | None:
    try:
        return load_registry(dn.data_dir / "agreements")
    except AccordError as exc:
        say(f"the agreements of {dn.node_id} cannot be read ({exc.slug}): every message "
            f"between countries will be refused; check them with "
            f"accord agreements validate {dn.data_dir / 'agreements'}")
        return None


def _covers(registry: Registry | None, a: DemoNode, b: DemoNode) -> bool:
    """Does an agreement name both countries, or agencies of both (a joint team's)?"""
    if registry is None:
        return False
    refs = [[dn.country, *sorted({lg.agency for lg in dn.logins})] for dn in (a, b)]
    return any(registry.between(x, y) for x in refs[0] for y in refs[1])


def restart_node(dn: DemoNode, log_dir: Path) -> None:
    """Start a node process again (after it stopped or was killed) and wait for it."""
    _start(dn, log_dir)
    _wait_healthy(dn)


def start_federation(
    base: Path, countries: list[str], *, first_port: int = 8401, fresh: bool = False,
    say: Say = print, agreements: Path | None = None, scenario: ScenarioSpec | None = None,
) -> list[DemoNode]:
    countries = [check_country(c) for c in countries]
    if len(set(countries)) != len(countries):
        raise ConfigurationError("each country may appear once")
    if fresh and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(exist_ok=True)
    scenario_dir = ensure_scenario(base, countries, scenario, say) if scenario is not None else None
    nodes = []
    for i, country in enumerate(countries):
        say(f"preparing {country} node …")
        dn = prepare_node(base, country, first_port + i, scenario_dir)
        if agreements is not None:
            install_agreements(dn.data_dir / "agreements", agreements)
        nodes.append(dn)
    if scenario_dir is None:  # the scenario brings its own agreements; otherwise the samples
        install_sample_agreements(nodes, say)
    try:
        for dn in nodes:
            say(f"starting {dn.node_id} on {dn.url} …")
            _start(dn, base / "logs")
        for dn in nodes:
            _wait_healthy(dn)
        say("pinning peers …")
        _pin_all(nodes)
    except BaseException:  # an error, or Ctrl-C while starting: leave no node running
        stop_all(nodes)
        raise
    return nodes


def _answers(dn: DemoNode) -> bool:
    try:
        return httpx.get(dn.url + "/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def run_until_signal(nodes: list[DemoNode], say: Say = print, *, keep_going: bool = False,
                     notice: Say | None = None) -> int:
    """Block until SIGINT/SIGTERM, then stop every node the demo started.

    A node process that stops ends the demo (exit 1), unless ``keep_going``: then the
    others keep running, and ``notice`` (default ``say``) gets a line saying so with the
    exact command that starts the node again by hand (a fault drill). A node started so
    answers on its URL again, which is noticed too; it is not the demo's process, so the
    demo does not stop it (stop it where it was started).
    """
    notice = notice or say
    stop = {"flag": False}

    def _handler(signum: int, _frame: Any) -> None:
        stop["flag"] = True

    code = 0
    down: dict[str, bool] = {}  # node id -> answers again (started by hand)
    old_int = signal.signal(signal.SIGINT, _handler)
    old_term = signal.signal(signal.SIGTERM, _handler)
    try:
        next_look = time.monotonic()
        while not stop["flag"]:
            for dn in nodes:
                if dn.node_id in down or dn.process is None or dn.process.poll() is None:
                    continue
                if not keep_going:
                    say(f"{dn.node_id} stopped unexpectedly (exit {dn.process.returncode})")
                    stop["flag"], code = True, 1
                    break
                down[dn.node_id] = False
                notice(_stopped_line(dn))
            if keep_going and down and time.monotonic() >= next_look:
                next_look = time.monotonic() + 1.0
                for dn in nodes:
                    if dn.node_id in down and not stop["flag"]:
                        back = _answers(dn)
                        if back and not down[dn.node_id]:
                            notice(f"{dn.node_id} answers again on {dn.url} (started outside the "
                                   "demo: Ctrl-C here does not stop it; stop it where you started it)")
                        elif not back and down[dn.node_id]:
                            notice(_stopped_line(dn, again=True))
                        down[dn.node_id] = back
            time.sleep(0.2)
    finally:
        say("stopping nodes …")
        stop_all(nodes)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    by_hand = [node_id for node_id, back in down.items() if back]
    if by_hand:
        say(f"the nodes the demo started are stopped; {', '.join(by_hand)}, started by hand, "
            "still run(s): stop it where you started it.")
    else:
        say("all nodes stopped.")
    return code


def _stopped_line(dn: DemoNode, *, again: bool = False) -> str:
    """``es-node stopped (exit -9); the other nodes keep running. Restart it by hand with: …``"""
    if again:
        what = f"{dn.node_id} stopped again"
    else:
        exit_code = dn.process.returncode if dn.process is not None else None
        what = f"{dn.node_id} stopped (exit {exit_code})"
    log = f" (the demo's log of it: {dn.log})" if dn.log is not None and not again else ""
    return (f"{what}; the other nodes keep running. Restart it by hand with: "
            f"{dn.serve_command()}{log}")
