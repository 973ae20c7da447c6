"""The key store: our agencies' and node's keys, and the public keys of peers.

Rotation retires the current key (it still verifies old signatures) and makes
a new one; revocation marks a key as no longer trusted at all.

Private keys are sealed at rest with a deliberately slow KDF (:mod:`accord.crypto.keys`),
so each is unsealed at most once per process and kept in memory; ``accord serve``
unseals the current ones before it answers (:meth:`KeyStore.preload`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.crypto import keys as k
from accord.db import tx_cache
from accord.errors import CryptoError, NotFound
from accord.parties.models import KeyRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    owner: str
    alg: str
    public_key: bytes
    fingerprint: str
    created_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None

    def to_public(self) -> dict[str, object]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "public_key": k.b64url(self.public_key),
            "fingerprint": self.fingerprint,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _info(row: KeyRecord) -> KeyInfo:
    return KeyInfo(
        row.kid, row.owner, row.alg, row.public_key, row.fingerprint,
        row.created_at, row.retired_at, row.revoked_at,
    )



def key_row(session: Session, kid: str) -> KeyRecord | None:
    """The key record ``kid``, read once per transaction (a batch verifies many envelopes and
    receipts signed by the same few keys; the session's identity map holds objects weakly, so
    ``session.get`` alone would read the row again for each)."""
    cache = tx_cache(session, "keys.rows")
    if kid not in cache:
        cache[kid] = session.get(KeyRecord, kid)
    return cache[kid]  # type: ignore[no-any-return]


def public_key(session: Session, row: KeyRecord) -> Ed25519PublicKey | X25519PublicKey:
    """The loaded public key of ``row`` (once per transaction)."""
    cache = tx_cache(session, "keys.public")
    if row.kid not in cache:
        cache[row.kid] = k.load_public(row.alg, row.public_key)
    return cache[row.kid]  # type: ignore[no-any-return]

class KeyStore:
    """Keys in the database; private halves sealed in files under ``keys_dir``."""

    def __init__(
        self, keys_dir: Path, passphrase: bytes, *, seal_cost: k.SealCost = k.STANDARD_COST
    ) -> None:
        self.keys_dir = keys_dir
        self._sealer = k.Sealer(passphrase, seal_cost)
        self._cache: dict[str, k.PrivateKey] = {}
        self._unseal_lock = threading.Lock()  # one slow unseal per key, however many threads ask

    # -- our own keys -------------------------------------------------------
    def create(
        self, session: Session, *, owner: str, owner_kind: str, alg: k.Alg, now: datetime
    ) -> KeyInfo:
        key = k.generate(alg)
        raw = k.public_raw(key)
        kid = k.make_kid(alg, raw)
        path = self.keys_dir / f"{owner}.{alg}.{kid.split(':', 1)[1]}.pem"
        self._sealer.save(key, path)
        row = KeyRecord(
            kid=kid, owner=owner, owner_kind=owner_kind, alg=alg, public_key=raw,
            fingerprint=k.fingerprint(raw), private_path=str(path.resolve()), created_at=now,
        )
        session.add(row)
        session.flush()
        tx_cache(session, "keys.current").clear()  # a new current key
        self._cache[kid] = key
        return _info(row)

    def rotate(self, session: Session, *, owner: str, alg: k.Alg, now: datetime) -> KeyInfo:
        current = self._current_row(session, owner, alg)
        current.retired_at = now
        return self.create(session, owner=owner, owner_kind=current.owner_kind, alg=alg, now=now)

    def _current_row(self, session: Session, owner: str, alg: str) -> KeyRecord:
        cache = tx_cache(session, "keys.current")
        cached = cache.get((owner, alg))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        row = session.scalars(
            select(KeyRecord)
            .where(
                KeyRecord.owner == owner,
                KeyRecord.alg == alg,
                KeyRecord.private_path.is_not(None),
                KeyRecord.retired_at.is_(None),
                KeyRecord.revoked_at.is_(None),
            )
            .order_by(KeyRecord.created_at.desc())
        ).first()
        if row is None:
            raise NotFound(f"no current {alg} key for {owner}")
        cache[(owner, alg)] = row
        return row

    def private(self, row: KeyRecord) -> k.PrivateKey:
        key = self._cache.get(row.kid)
        if key is not None:
            return key
        if row.private_path is None:
            raise CryptoError(f"no private key held for {row.kid}")
        with self._unseal_lock:
            key = self._cache.get(row.kid)
            if key is None:
                opened = self._sealer.read(Path(row.private_path))
                if opened.cost is None:
                    log.warning("private key %s is sealed the old way (PBKDF2, 2,048 rounds); "
                                "run `accord keys reseal`", row.kid)
                key = self._cache[row.kid] = opened.key
        return key

    def _held_rows(self, session: Session, *, current_only: bool) -> list[KeyRecord]:
        query = select(KeyRecord).where(KeyRecord.private_path.is_not(None))
        if current_only:
            query = query.where(KeyRecord.retired_at.is_(None), KeyRecord.revoked_at.is_(None))
        return list(session.scalars(query.order_by(KeyRecord.created_at, KeyRecord.kid)))

    def preload(self, session: Session) -> int:
        """Unseal every current private key now (before serving), not on a first request."""
        started = time.perf_counter()
        rows = self._held_rows(session, current_only=True)
        for row in rows:
            self.private(row)
        log.info("unsealed %d private keys in %.1f s", len(rows), time.perf_counter() - started)
        return len(rows)

    def reseal(self, session: Session) -> list[str]:
        """Rewrite every private key file held here that is sealed the old way or more
        cheaply than this store seals; the kids rewritten. Files are replaced atomically."""
        done = []
        for row in self._held_rows(session, current_only=False):
            assert row.private_path is not None
            if self._sealer.reseal(Path(row.private_path)):
                done.append(row.kid)
        return done

    def signing_key(self, session: Session, owner: str) -> tuple[str, Ed25519PrivateKey]:
        row = self._current_row(session, owner, "ed25519")
        key = self.private(row)
        assert isinstance(key, Ed25519PrivateKey)
        return row.kid, key

    def encryption_key(self, session: Session, kid: str) -> X25519PrivateKey:
        row = key_row(session, kid)
        if row is None or row.alg != "x25519" or row.private_path is None:
            raise NotFound(f"no private encryption key {kid}")
        key = self.private(row)
        assert isinstance(key, X25519PrivateKey)
        return key

    # -- anybody's public keys ----------------------------------------------
    @staticmethod
    def keys_of(session: Session, owner: str) -> list[KeyInfo]:
        rows = session.scalars(
            select(KeyRecord).where(KeyRecord.owner == owner).order_by(KeyRecord.created_at)
        )
        return [_info(r) for r in rows]

    @staticmethod
    def verification_key(session: Session, kid: str) -> Ed25519PublicKey:
        row = key_row(session, kid)
        if row is None or row.alg != "ed25519":
            raise NotFound(f"unknown signing key {kid}")
        if row.revoked_at is not None:
            raise CryptoError(f"key {kid} was revoked")
        pub = k.load_public("ed25519", row.public_key)
        assert isinstance(pub, Ed25519PublicKey)
        return pub

    @staticmethod
    def revoke(session: Session, kid: str, now: datetime) -> None:
        row = session.get(KeyRecord, kid)
        if row is None:
            raise NotFound(f"unknown key {kid}")
        row.revoked_at = now

    @staticmethod
    def upsert_public(
        session: Session, *, kid: str, owner: str, owner_kind: str, alg: str, raw: bytes,
        created_at: datetime, retired_at: datetime | None, revoked_at: datetime | None,
    ) -> None:
        """Record (or refresh) a peer's public key, as its signed descriptor states it."""
        if k.make_kid(alg, raw) != kid:  # type: ignore[arg-type]
            raise CryptoError(f"key id {kid} does not match its key")
        row = session.get(KeyRecord, kid)
        if row is None:
            session.add(KeyRecord(
                kid=kid, owner=owner, owner_kind=owner_kind, alg=alg, public_key=raw,
                fingerprint=k.fingerprint(raw), private_path=None, created_at=created_at,
                retired_at=retired_at, revoked_at=revoked_at,
            ))
        else:
            if row.owner != owner or row.public_key != raw:
                raise CryptoError(f"key {kid} already known for another owner")
            row.retired_at = retired_at
            row.revoked_at = row.revoked_at or revoked_at
