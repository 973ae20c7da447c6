"""The linkage secrets a node holds, one per agreement and key epoch (privacy-preserving search).

Where an agreement's search clause says ``search_mode: bloom`` (docs/agreements.md), both
parties hold one secret under that agreement, set out of band (``accord search linkage-key
generate`` on one side, ``… set`` with the same file on the other). This store keeps it:

* **At rest** the secret is sealed like the node's private keys (:class:`accord.crypto.keys.Sealer`:
  Argon2id from the key passphrase, AES-256-GCM, mode 0600, never overwritten) in
  ``<keys_dir>/linkage.<agreement>.<epoch>.<key id>.sealed``, under its own PEM label;
  the table ``search_linkage_secrets`` names the file, never the secret.
* **In memory** a secret is unsealed at most once per process and kept as a
  :class:`~accord.search.bloom.LinkageKey`, whose ``repr`` shows agreement, epoch and key id
  only. Nothing here logs or audits a secret: audit entries and command output carry the
  agreement, the epoch and the key id (8 bytes of HMAC under the secret, in hex).
* **Epochs** go up: a new secret for an agreement takes the next epoch (or the one given,
  which must be higher than any held). The newest epoch not retired is the one a query is
  encoded under; every epoch not retired has the node's index encoded under it, so a
  node answers queries of both epochs while the parties switch. Retiring an epoch drops its
  index rows and its sealed file; the row stays, so the epoch is never used again.
* **Ready**: ``indexed_at`` is set once the whole index has been encoded under a key
  (:func:`accord.search.private.index_under`); until then the node refuses queries under
  it (``linkage-index-not-ready``) instead of answering "no hit" for records not yet
  encoded.

The use cases that also encode the index and audit are in :mod:`accord.search.private`;
this module only keeps secrets.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.crypto.keys import SealCost, Sealer
from accord.errors import Conflict, CryptoError, NotFound, ValidationFailed
from accord.search.bloom import MIN_SECRET_BYTES, LinkageKey
from accord.search.models import LinkageSecret

__all__ = ["LinkageInfo", "LinkageKeyStore", "parse_secret_text", "secret_text"]

_AGREEMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{1,80}$")  # as the agreement schema's ``id``
_MAX_SECRET_BYTES = 1024


@dataclass(frozen=True)
class LinkageInfo:
    """What may be shown of a held secret: never the secret."""

    agreement: str
    epoch: int
    key_id: str
    created_at: datetime
    indexed_at: datetime | None
    retired_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {"agreement": self.agreement, "epoch": self.epoch, "key_id": self.key_id,
                "created_at": self.created_at.isoformat(),
                "indexed_at": self.indexed_at.isoformat() if self.indexed_at else None,
                "retired_at": self.retired_at.isoformat() if self.retired_at else None}


def _info(row: LinkageSecret) -> LinkageInfo:
    return LinkageInfo(row.agreement, row.epoch, row.key_id, row.created_at, row.indexed_at,
                       row.retired_at)


def secret_text(secret: bytes) -> str:
    """The text of a secret file (base64url, one line), as ``generate`` writes it."""
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii") + "\n"


def parse_secret_text(text: str) -> bytes:
    """The secret in a secret file: base64 or base64url text (one line), at least 32 bytes."""
    body = "".join(text.split())
    try:
        secret = base64.urlsafe_b64decode(body.replace("+", "-").replace("/", "_")
                                          + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise ValidationFailed("a linkage secret file holds the secret in base64 (one line)",
                               field="file") from None
    if not MIN_SECRET_BYTES <= len(secret) <= _MAX_SECRET_BYTES:
        raise ValidationFailed(f"a linkage secret has {MIN_SECRET_BYTES} to {_MAX_SECRET_BYTES} "
                               f"bytes; this file holds {len(secret)}", field="file")
    return secret


class LinkageKeyStore:
    """Linkage secrets in the database (metadata) and sealed files under ``keys_dir``."""

    def __init__(self, keys_dir: Path, passphrase: bytes, *, seal_cost: SealCost) -> None:
        self.keys_dir = keys_dir
        self._sealer = Sealer(passphrase, seal_cost)
        self._cache: dict[str, LinkageKey] = {}  # key id → key
        self._lock = threading.Lock()

    # -- writing ------------------------------------------------------------------
    def add(self, s: Session, *, agreement: str, secret: bytes, now: datetime,
            epoch: int | None = None) -> LinkageInfo:
        """Hold ``secret`` for ``agreement`` at ``epoch`` (default: the next one).

        Raises :class:`Conflict` when the epoch is not above every epoch held for the
        agreement, or when this very secret is held already (the same epoch set twice).
        """
        if not _AGREEMENT.match(agreement):
            raise ValidationFailed(f"{agreement!r} is not an agreement id", field="agreement")
        rows = list(s.scalars(select(LinkageSecret).where(LinkageSecret.agreement == agreement)
                              .order_by(LinkageSecret.epoch)))
        top = rows[-1].epoch if rows else 0
        epoch = top + 1 if epoch is None else epoch
        key = LinkageKey(secret, agreement=agreement, epoch=epoch)
        key_id = key.key_id.hex()
        for row in rows:  # the key id of a secret at an epoch: no unsealing needed
            if LinkageKey(secret, agreement=agreement, epoch=row.epoch).key_id.hex() == row.key_id:
                raise Conflict(f"this secret is held already for {agreement} as epoch {row.epoch} "
                               f"(key id {row.key_id})", reason="linkage-key-held")
        if epoch <= top:
            raise Conflict(f"epoch {epoch} of {agreement} is not above the epochs held (up to "
                           f"{top}): a key epoch never goes back", reason="linkage-epoch-used")
        path = self.keys_dir / f"linkage.{agreement}.{epoch}.{key_id}.sealed"
        self._sealer.save_secret(secret, path)
        row = LinkageSecret(agreement=agreement, epoch=epoch, key_id=key_id,
                            path=str(path.resolve()), created_at=now)
        s.add(row)
        s.flush()
        self._cache[key_id] = key
        return _info(row)

    def mark_indexed(self, s: Session, key_id: str, at: datetime | None) -> None:
        """Say the whole index is encoded under ``key_id`` (``at``), or that it is not (None)."""
        row = s.scalars(select(LinkageSecret).where(LinkageSecret.key_id == key_id)).first()
        if row is not None:
            row.indexed_at = at

    def retire(self, s: Session, *, agreement: str, epoch: int, now: datetime) -> LinkageInfo:
        """Stop using one epoch: the row stays (the epoch is never reused), the file goes."""
        row = s.get(LinkageSecret, (agreement, epoch))
        if row is None:
            raise NotFound(f"no linkage key for {agreement} epoch {epoch}")
        if row.retired_at is None:
            row.retired_at = now
            Path(row.path).unlink(missing_ok=True)
            self._cache.pop(row.key_id, None)
        return _info(row)

    # -- reading ------------------------------------------------------------------
    @staticmethod
    def infos(s: Session, agreement: str | None = None) -> list[LinkageInfo]:
        query = select(LinkageSecret).order_by(LinkageSecret.agreement, LinkageSecret.epoch)
        if agreement is not None:
            query = query.where(LinkageSecret.agreement == agreement)
        return [_info(r) for r in s.scalars(query)]

    @staticmethod
    def _held_rows(s: Session, agreement: str | None = None) -> list[LinkageSecret]:
        query = (select(LinkageSecret).where(LinkageSecret.retired_at.is_(None))
                 .order_by(LinkageSecret.agreement, LinkageSecret.epoch))
        if agreement is not None:
            query = query.where(LinkageSecret.agreement == agreement)
        return list(s.scalars(query))

    def _key(self, row: LinkageSecret) -> LinkageKey:
        key = self._cache.get(row.key_id)
        if key is not None:
            return key
        with self._lock:
            key = self._cache.get(row.key_id)
            if key is None:
                secret = self._sealer.read_secret(Path(row.path))
                key = LinkageKey(secret, agreement=row.agreement, epoch=row.epoch)
                if key.key_id.hex() != row.key_id:
                    raise CryptoError(f"the sealed linkage secret of {row.agreement} epoch "
                                      f"{row.epoch} does not match its key id")
                self._cache[row.key_id] = key
        return key

    def usable(self, s: Session) -> tuple[list[LinkageKey], list[LinkageInfo]]:
        """Every key not retired that opens, and those that do not (a sealed file missing or
        damaged, a wrong passphrase): one statement."""
        keys: list[LinkageKey] = []
        broken: list[LinkageInfo] = []
        for row in self._held_rows(s):
            try:
                keys.append(self._key(row))
            except CryptoError:
                broken.append(_info(row))
        return keys, broken

    def held(self, s: Session, agreement: str | None = None) -> list[LinkageKey]:
        """Every key not retired (of one agreement, or all), oldest epoch first."""
        return [self._key(r) for r in self._held_rows(s, agreement)]

    def current(self, s: Session, agreement: str) -> LinkageKey | None:
        """The newest key not retired of ``agreement``: the one queries are encoded under."""
        rows = self._held_rows(s, agreement)
        return self._key(rows[-1]) if rows else None

    def find(self, s: Session, agreement: str, key_id: str) -> tuple[LinkageKey, bool] | None:
        """The key of ``agreement`` with ``key_id`` (not retired) and whether the index is
        encoded under it in full; None when this node holds no such key."""
        for row in self._held_rows(s, agreement):
            if row.key_id == key_id:
                return self._key(row), row.indexed_at is not None
        return None

    def preload(self, s: Session) -> int:
        """Unseal every key not retired now (before serving), not on a first query."""
        return len(self.held(s))
