"""Secrets at rest (issue 7, finding 6): how private keys are sealed, old key files, the
database file's mode, and `init` refusing (or failing) without leaving a half-made node."""

from __future__ import annotations

import base64
import os
import stat
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from accord import lifecycle
from accord.bootstrap import Node, build_node
from accord.crypto import keys as k
from accord.errors import Conflict, CryptoError, ValidationFailed
from accord.lifecycle import AgencySpec, init_node, private_sqlite_file
from accord.parties.keys import KeyStore
from accord.parties.models import KeyRecord
from accord.settings import load_settings

AGENCY = [AgencySpec("ES-PN", "Policía Nacional", "police")]
FAST: dict[str, object] = {"unsafe_fast_key_sealing": True}  # test mode only; the cost is not what these check


# -- a tiny DER reader, to see what a key file really holds --------------------------------
def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at:at + n], "big")
        at += n
    return tag, data[at:at + length], at + length


def _children(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        tag, value, at = _tlv(data, at)
        out.append((tag, value))
    return out


PBES2 = bytes.fromhex("2a864886f70d01050d")   # 1.2.840.113549.1.5.13
PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12


def pkcs8_pbkdf2_iterations(pem: bytes) -> int:
    """The PBKDF2 iteration count of a PBES2-encrypted PKCS#8 PEM (RFC 5958, RFC 8018)."""
    lines = pem.strip().splitlines()
    assert lines[0] == b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
    der = base64.b64decode(b"".join(lines[1:-1]))
    _, info, _ = _tlv(der, 0)  # EncryptedPrivateKeyInfo ::= SEQUENCE
    algorithm, _data = _children(info)  # AlgorithmIdentifier, encryptedData
    oid, params = _children(algorithm[1])
    assert oid[1] == PBES2
    kdf, _scheme = _children(params[1])
    kdf_oid, kdf_params = _children(kdf[1])
    assert kdf_oid[1] == PBKDF2
    _salt, iterations, *_ = _children(kdf_params[1])
    return int.from_bytes(iterations[1], "big")


def _sealed_blob(pem: bytes) -> bytes:
    lines = pem.strip().splitlines()
    assert lines[0] == b"-----BEGIN ACCORD SEALED PRIVATE KEY-----", lines[0]
    return base64.b64decode(b"".join(lines[1:-1]))


def sealed_header(pem: bytes) -> tuple[bytes, int, int, int]:
    """(magic, passes, memory KiB, lanes) from an Accord sealed key file, read independently."""
    blob = _sealed_blob(pem)
    return (blob[:8], *struct.unpack(">III", blob[8:20]))


def sealed_salt(pem: bytes) -> bytes:
    return _sealed_blob(pem)[20:36]


def legacy_pem(key: k.PrivateKey, passphrase: bytes) -> bytes:
    """A key file as Accord wrote it before: PKCS#8, BestAvailableEncryption."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def test_the_der_reader_sees_the_old_2048_rounds() -> None:
    assert pkcs8_pbkdf2_iterations(legacy_pem(k.generate("ed25519"), b"pp")) == 2048


# -- sealing -------------------------------------------------------------------------------
def test_new_key_files_are_argon2id_not_pbkdf2_at_2048(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.pem"
    key = k.generate("x25519")
    k.save_private_key(key, path, b"a passphrase")
    pem = path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" not in pem  # not PKCS#8 PBES2 (PBKDF2-SHA256, 2,048 rounds)
    magic, passes, memory_kib, lanes = sealed_header(pem)
    assert magic == b"ACCORDK1"
    assert passes >= 3 and memory_kib >= 64 * 1024 and lanes >= 1  # RFC 9106 low-memory profile
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert k.load_private_key(path, b"a passphrase").private_bytes_raw() == key.private_bytes_raw()
    with pytest.raises(CryptoError):
        k.load_private_key(path, b"another passphrase")
    with pytest.raises(FileExistsError):
        k.save_private_key(key, path, b"a passphrase")  # never overwritten


def test_a_sealed_header_cannot_be_altered(tmp_path: Path) -> None:
    pem = k.seal_private_key(k.generate("ed25519"), b"pp", k.UNSAFE_TEST_COST)
    lines = pem.strip().splitlines()
    blob = bytearray(base64.b64decode(b"".join(lines[1:-1])))
    for offset in (19, 25, 40):  # lanes, salt, nonce: all authenticated
        changed = bytearray(blob)
        changed[offset] ^= 1
        armoured = b"\n".join([lines[0], base64.encodebytes(bytes(changed)).strip(), lines[-1]])
        with pytest.raises(CryptoError):
            k.open_private_key(armoured, b"pp")
    huge = bytearray(blob)
    huge[12:16] = struct.pack(">I", 2**31)  # 2 TiB of memory: refused before deriving
    armoured = b"\n".join([lines[0], base64.encodebytes(bytes(huge)).strip(), lines[-1]])
    with pytest.raises(CryptoError, match="out of bounds"):
        k.open_private_key(armoured, b"pp")


def test_a_production_node_seals_its_keys_with_argon2id(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passphrase").write_text("a production passphrase\n")
    (etc / "secret").write_text("s" * 48 + "\n")
    data = tmp_path / "node"
    settings = init_node(data, node_id="es-node", country="ES", agencies=AGENCY,
                         mode="production", passphrase_file=etc / "passphrase",
                         secret_key_file=etc / "secret")
    config = (data / "accord.toml").read_text()
    assert "secret_key =" not in config and "key_passphrase =" not in config
    assert "s" * 48 not in config
    assert load_settings(data_dir=data).secret_key.get_secret_value() == "s" * 48
    files = sorted(settings.keys_dir.glob("*.pem"))
    assert len(files) == 3  # node key, ES-PN signing and encryption keys
    for f in files:
        assert sealed_header(f.read_bytes())[2] >= 64 * 1024
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    # made together: one salt, so the node opens them with one Argon2id run
    assert len({sealed_salt(f.read_bytes()) for f in files}) == 1


def test_one_sealer_one_salt_and_each_sealer_its_own() -> None:
    first, second = k.Sealer(b"pp", k.UNSAFE_TEST_COST), k.Sealer(b"pp", k.UNSAFE_TEST_COST)
    a, b, c = (k.generate("ed25519") for _ in range(3))
    sealed = [first.seal(a), first.seal(b), second.seal(c)]
    assert sealed_salt(sealed[0]) == sealed_salt(sealed[1]) != sealed_salt(sealed[2])
    assert sealed[0][60:] != first.seal(a)[60:]  # a fresh nonce every time
    opener = k.Sealer(b"pp")
    assert [opener.open(s).key.private_bytes_raw() for s in sealed] == [
        x.private_bytes_raw() for x in (a, b, c)]


# -- old key files -------------------------------------------------------------------------
def _make_legacy(node: Node, owner: str) -> list[Path]:
    """Rewrite ``owner``'s key files the way Accord sealed them before."""
    paths = []
    with node.read() as s:
        for row in s.query(KeyRecord).filter(KeyRecord.owner == owner):
            path = Path(str(row.private_path))
            key = node.keys.private(row)
            path.unlink()
            path.write_bytes(legacy_pem(key, node.settings.passphrase()))
            path.chmod(0o600)
            paths.append(path)
    return paths


def _fresh_store(node: Node) -> KeyStore:
    return KeyStore(node.settings.keys_dir, node.settings.passphrase(),
                    seal_cost=node.settings.key_seal_cost)


def test_old_key_files_still_open_and_reseal_in_place(node: Node) -> None:
    paths = _make_legacy(node, "ES-PN")
    assert all(pkcs8_pbkdf2_iterations(p.read_bytes()) == 2048 for p in paths)
    store = _fresh_store(node)
    with node.read() as s:
        kid, key = store.signing_key(s, "ES-PN")  # opens the old file
        signature = key.sign(b"before resealing")
        resealed = store.reseal(s)
        assert sorted(resealed) == sorted(r.kid for r in KeyStore.keys_of(s, "ES-PN"))
        assert store.reseal(s) == []  # nothing left to do
    for p in paths:
        assert sealed_header(p.read_bytes())[0] == b"ACCORDK1"
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert not p.with_name(p.name + ".reseal").exists()
    with node.read() as s:
        _, same = _fresh_store(node).signing_key(s, "ES-PN")
        KeyStore.verification_key(s, kid).verify(signature, b"before resealing")
        assert same.private_bytes_raw() == key.private_bytes_raw()


# -- unsealed once per key per process ------------------------------------------------------
def test_each_key_is_unsealed_once_and_kept(node: Node) -> None:
    store = _fresh_store(node)
    with node.read() as s:
        assert store.preload(s) == 5  # node key + two agencies' signing and encryption keys
        paths = [Path(str(r.private_path))
                 for r in s.query(KeyRecord).filter(KeyRecord.private_path.is_not(None))]
    for path in paths:
        path.unlink()  # from now on only memory can answer
    with node.read() as s:
        _kid, key = store.signing_key(s, "ES-PN")
        assert store.signing_key(s, "ES-PN")[1] is key


def test_threads_asking_at_once_get_one_unsealed_key(node: Node) -> None:
    store = _fresh_store(node)
    with node.read() as s:
        row = s.query(KeyRecord).filter(KeyRecord.owner == "ES-PN", KeyRecord.alg == "x25519").one()
        s.expunge(row)
    got: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        got.append(store.private(row))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(g is got[0] for g in got)


# -- the database file ---------------------------------------------------------------------
@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_database_and_wal_files_are_0600_and_folder_0700(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "node"
    settings = init_node(data, node_id="es-node", country="ES", agencies=AGENCY, mode="test",
                         extra=FAST)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    node = build_node(settings)
    try:
        with node.uow() as s:  # a write while open: the -wal and -shm files exist
            s.execute(text("SELECT 1"))
            node.record(s, actor="test", action="test:file:mode", object="db")
            names = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.glob("accord.db*")}
        assert {"accord.db", "accord.db-wal", "accord.db-shm"} <= names.keys()
        assert set(names.values()) == {0o600}, names
    finally:
        node.dispose()


def test_an_existing_database_file_is_tightened(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "accord.db"
    for name in ("accord.db", "accord.db-wal"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    private_sqlite_file(f"sqlite:///{db}")
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("accord.db*")} == {0o600}
    private_sqlite_file("postgresql://nobody@127.0.0.1/none")  # not a file: nothing to do


# -- init refuses, or fails, and leaves no half-made node ------------------------------------
def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def test_production_init_refuses_a_passphrase_file_in_the_data_folder(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "secret").write_text("s" * 48)
    real = tmp_path / "srv" / "es"  # made by the operator, passphrase put inside by mistake
    (real / "sub").mkdir(parents=True)
    (real / "passphrase").write_text("oops\n")
    link = tmp_path / "es-link"
    link.symlink_to(real)
    before = _snapshot(real)
    for data_dir, passphrase in ((real, real / "passphrase"),
                                 (real, real / "sub" / ".." / "passphrase"),
                                 (link, real / "passphrase"),
                                 (real, link / "passphrase")):
        with pytest.raises(ValidationFailed, match="inside the data folder"):
            init_node(data_dir, node_id="es-node", country="ES", agencies=AGENCY,
                      mode="production", passphrase_file=passphrase, secret_key_file=etc / "secret")
        assert _snapshot(real) == before  # nothing added, nothing removed
    # a data folder that does not exist yet is not created by a refused init
    absent = tmp_path / "new" / "es"
    with pytest.raises(ValidationFailed, match="inside the data folder"):
        init_node(absent, node_id="es-node", country="ES", agencies=AGENCY, mode="production",
                  passphrase_file=absent / "pp", secret_key_file=etc / "secret")
    with pytest.raises(ValidationFailed, match="secret-key-file"):
        init_node(absent, node_id="es-node", country="ES", agencies=AGENCY, mode="production",
                  passphrase_file=etc / "secret")
    with pytest.raises(ValidationFailed, match=r"secret-key-file .* inside the data folder"):
        init_node(absent, node_id="es-node", country="ES", agencies=AGENCY, mode="production",
                  passphrase_file=etc / "secret", secret_key_file=absent / "secret")
    assert not (tmp_path / "new").exists()


def test_init_that_fails_midway_removes_what_it_made(tmp_path: Path) -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/accord"  # fails at the schema step
    absent = tmp_path / "a" / "b" / "es"
    with pytest.raises(OperationalError):
        init_node(absent, node_id="es-node", country="ES", agencies=AGENCY, mode="test",
                  database_url=unreachable, extra=FAST)
    assert not (tmp_path / "a").exists()  # the folder and the parents init made
    # a folder the operator made is kept, with what was in it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README").write_text("the operator's")
    with pytest.raises(OperationalError):
        init_node(mine, node_id="es-node", country="ES", agencies=AGENCY, mode="test",
                  database_url=unreachable, extra=FAST)
    assert _snapshot(mine) == {"README": b"the operator's"}


def test_init_interrupted_by_ctrl_c_leaves_nothing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(node: Node, agencies: list[AgencySpec], *, migrate: bool = True) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "initialise", interrupted)
    data = tmp_path / "es"
    with pytest.raises(KeyboardInterrupt):
        init_node(data, node_id="es-node", country="ES", agencies=AGENCY, mode="test", extra=FAST)
    assert not data.exists()


def test_init_refuses_a_folder_holding_a_node_s_files(tmp_path: Path) -> None:
    data = tmp_path / "es"
    (data / "keys").mkdir(parents=True)
    with pytest.raises(Conflict, match="keys"):
        init_node(data, node_id="es-node", country="ES", agencies=AGENCY, mode="test", extra=FAST)
    assert _snapshot(data) == {"keys": None}
