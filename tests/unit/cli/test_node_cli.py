"""The command line on a real node folder: init, officers, tokens, keys, audit verify/show."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ACCORD_DATA_DIR", "ACCORD_CONFIG", "ACCORD_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    # test mode, keys sealed at Argon2's minimum: every command unseals keys, at no real cost
    monkeypatch.setenv("ACCORD_UNSAFE_FAST_KEY_SEALING", "true")
    d = tmp_path / "es"
    r = runner.invoke(app, ["--data-dir", str(d), "init", "--node-id", "es-node", "--country", "ES",
                            "--agency", "ES-PN:Policía Nacional:police", "--agency",
                            "ES-SVA:Vigilancia Aduanera:customs", "--mode", "test",
                            "--port", "18999"])
    assert r.exit_code == 0, r.output
    return d


def cli(data_dir: Path, *args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["--data-dir", str(data_dir), *args], env={"ACCORD_NEW_PASSWORD": "x" * 14})
    return r.exit_code, r.output


def test_init_writes_private_config_and_refuses_twice(data_dir: Path) -> None:
    config = data_dir / "accord.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "secret_key" in config.read_text()
    code, out = cli(data_dir, "init", "--node-id", "x", "--country", "ES", "--agency", "ES-PN")
    assert code == 2 and "exists" in out


def test_init_rejects_foreign_agency(tmp_path: Path) -> None:
    r = runner.invoke(app, ["--data-dir", str(tmp_path / "n"), "init", "--node-id", "n",
                            "--country", "ES", "--agency", "FR-PN", "--mode", "development"])
    assert r.exit_code == 2 and "FR-PN" in r.output


def test_officers_and_tokens(data_dir: Path) -> None:
    code, out = cli(data_dir, "officers", "add", "garcia", "--agency", "ES-PN", "--role", "officer",
                    "--role", "analyst", "--clearance", "H2", "--json")
    assert code == 0, out
    added = json.loads(out)
    assert "totp_secret" not in added and added["enrolment_code"]  # the secret is the officer's
    code, out = cli(data_dir, "officers", "list", "--json")
    assert [(o["username"], o["enrolled"]) for o in json.loads(out)] == [("garcia", False)]
    code, out = cli(data_dir, "officers", "enrol", "garcia", "--code", added["enrolment_code"],
                    "--json")  # the password comes from ACCORD_NEW_PASSWORD
    assert code == 0, out
    assert len(json.loads(out)["totp_secret"]) >= 16
    assert json.loads(out)["provisioning_uri"].startswith("otpauth://totp/")
    code, out = cli(data_dir, "officers", "enrol", "garcia", "--code", added["enrolment_code"])
    assert code == 2 and "Enrolment failed" in out  # good once
    code, out = cli(data_dir, "officers", "token", "garcia", "--role", "analyst", "--days", "7", "--json")
    assert code == 0 and json.loads(out)["token"].startswith("act_")
    code, out = cli(data_dir, "officers", "token", "garcia", "--role", "admin", "--json")
    assert code == 2 and "does not hold" in out


def test_keys_rotate_and_list(data_dir: Path) -> None:
    code, out = cli(data_dir, "keys", "rotate", "ES-PN")
    assert code == 0, out
    code, out = cli(data_dir, "keys", "list", "ES-PN", "--json")
    keys = json.loads(out)
    assert len(keys) == 4 and sum(1 for k in keys if k["retired_at"]) == 2


def test_audit_verify_detects_tampering_and_exits_nonzero(data_dir: Path) -> None:
    cli(data_dir, "officers", "add", "garcia", "--agency", "ES-PN", "--role", "officer")
    code, out = cli(data_dir, "audit", "checkpoint")
    assert code == 0 and "es-node.accord/audit" in out
    code, out = cli(data_dir, "audit", "verify", "--json")
    assert code == 0, out
    assert json.loads(out)["ok"] is True
    db = sqlite3.connect(data_dir / "accord.db")
    db.execute("UPDATE audit_entries SET actor = 'someone' WHERE idx = 2")
    db.commit()
    db.close()
    code, out = cli(data_dir, "audit", "verify", "--json")
    assert code == 1
    report = json.loads(out)
    assert {"kind": "changed", "index": 2, "severity": "error",
            "detail": "entry 2 was changed"} in report["findings"]
    code, out = cli(data_dir, "audit", "verify")
    assert code == 1 and "tampered" in out


def test_audit_show_filters(data_dir: Path) -> None:
    cli(data_dir, "officers", "add", "garcia", "--agency", "ES-PN", "--role", "officer")
    code, out = cli(data_dir, "audit", "show", "--object", "officer:", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["action"] for r in rows] == ["parties:officer:created"]
    code, out = cli(data_dir, "audit", "show", "--actor", "nobody", "--json")
    assert json.loads(out) == []
    code, out = cli(data_dir, "audit", "show", "--since", "2000-01-01T00:00:00", "--json")
    assert len(json.loads(out)) > 3


def test_help_everywhere() -> None:
    for group in ([], ["db"], ["officers"], ["peers"], ["keys"], ["audit"], ["init"], ["serve"], ["demo"]):
        r = runner.invoke(app, [*group, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, group


def test_keys_reseal_rewrites_old_key_files(data_dir: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from accord.crypto.keys import load_private_key

    passphrase = (data_dir / "keys" / "passphrase").read_text().strip().encode()
    old = sorted((data_dir / "keys").glob("ES-PN.*.pem"))
    raw = {}
    for path in old:  # sealed as before: PKCS#8, PBKDF2-SHA256 at 2,048 rounds
        key = load_private_key(path, passphrase)
        raw[path] = key.private_bytes_raw()
        path.unlink()
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(passphrase)))
    code, out = cli(data_dir, "keys", "reseal", "--json")
    assert code == 0, out
    assert len(json.loads(out)["resealed"]) == 2
    for path in old:
        assert path.read_bytes().startswith(b"-----BEGIN ACCORD SEALED PRIVATE KEY-----")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_private_key(path, passphrase).private_bytes_raw() == raw[path]
    code, out = cli(data_dir, "keys", "reseal", "--json")
    assert code == 0 and json.loads(out)["resealed"] == []
    code, out = cli(data_dir, "audit", "show", "--action", "node:key:resealed", "--json")
    assert code == 0, out
    assert [len(e["detail"]["keys"]) for e in json.loads(out)] == [2]  # one entry, for the one run


def test_production_init_refuses_secrets_in_the_data_folder_and_makes_nothing(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passphrase").write_text("p" * 40)
    (etc / "secret").write_text("s" * 48)
    data = tmp_path / "es"

    def init(*extra: str) -> tuple[int, str]:
        r = runner.invoke(app, ["--data-dir", str(data), "init", "--node-id", "es-node",
                                "--country", "ES", "--agency", "ES-PN", "--mode", "production",
                                *extra])
        return r.exit_code, r.output

    code, out = init("--passphrase-file", str(data / "passphrase"),
                     "--secret-key-file", str(etc / "secret"))
    assert code == 2 and "inside the data folder" in out
    code, out = init("--passphrase-file", str(etc / "passphrase"))
    assert code == 2 and "--secret-key-file" in out
    assert not data.exists()


def test_init_stopped_by_sigterm_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    from accord import lifecycle

    def terminated(*_args: object, **_kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, halfway through init

    monkeypatch.setattr(lifecycle, "initialise", terminated)
    data = tmp_path / "es"
    before = signal.getsignal(signal.SIGTERM)
    r = runner.invoke(app, ["--data-dir", str(data), "init", "--node-id", "es-node", "--country", "ES",
                            "--agency", "ES-PN", "--mode", "development"])
    assert r.exit_code != 0
    assert not data.exists()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is init's only
