"""The search index: one entry per indexed entity, one key row per match or blocking key.

``search_entries`` holds what a search needs to answer without loading the record
(or the alert) it came from: the source (``record`` or ``alert``) and its reference,
the owner agency, the handling code, the FtM schema, and for a person the compact
fields the matcher scores (``person``: names, dates of birth, nationality, gender,
identifiers — see :func:`accord.search.index.person_of`). ``encoding`` is reserved
for the privacy-preserving mode (:mod:`accord.search.bloom`, ``Encoding.to_text()``).

``search_keys`` files an entry under each of its keys: ``kind`` is ``person``
(the matcher's blocking keys) or an identifier kind (``document``, ``plate``,
``vin``, ``phone``, ``email``, ``iban``, ``wallet``, with the canonical match key of
:mod:`accord.search.keys`). The primary key ``(kind, key, source, entry_id)`` is the
lookup index: a query reads only the rows of the keys it asks for, never the table,
and a search of alerts only reads alert rows (a block of a million records does not
hide the one alert under the same key).

The privacy-preserving mode (:mod:`accord.search.private`, docs/search-privacy.md) keeps
its own three tables, all per linkage key (``key_id``: 16 hex digits of the key id of
:class:`accord.search.bloom.LinkageKey`):

* ``search_linkage_secrets``: the linkage secrets this node holds, one per agreement and
  epoch — where the sealed secret lies (never the secret), when it was set, when the
  index was last encoded under it in full (``indexed_at``; until then the node refuses
  queries under that key rather than answer "no hit") and when it was retired;
* ``search_linkage_entries``: a record's person encodings under one key
  (``Encoding.to_text()`` of each name, space-separated; blocking keys left out — they
  are the token rows);
* ``search_linkage_tokens``: an entry filed under a keyed token — ``kind`` ``person``
  (a keyed blocking key, 8 bytes) or an identifier kind (the keyed hash of the match
  key, 16 bytes), in hex. The primary key ``(key_id, kind, token, entry_id)`` is the
  lookup index, as for ``search_keys``.

Entries of the encoding tables belong to a ``search_entries`` row (a record; alerts are
searched on their own node only, in clear) and go with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, BigInt, UTCDateTime

__all__ = ["KINDS", "SOURCES", "LinkageEntry", "LinkageSecret", "LinkageToken", "SearchEntry",
           "SearchKey"]

SOURCES = ("record", "alert")
KINDS = ("person", "document", "plate", "vin", "phone", "email", "iban", "wallet")


class SearchEntry(Base):
    """One indexed entity (a record or an alert subject)."""

    __tablename__ = "search_entries"
    __table_args__ = (UniqueConstraint("source", "ref"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(10))
    ref: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(20), index=True)
    handling: Mapped[str] = mapped_column(String(2))
    schema: Mapped[str] = mapped_column(String(64))
    person: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    encoding: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SearchKey(Base):
    """An entry filed under one key of one kind."""

    __tablename__ = "search_keys"
    __table_args__ = (Index("ix_search_keys_entry_id", "entry_id"),)

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("search_entries.id", ondelete="CASCADE"), primary_key=True)


class LinkageSecret(Base):
    """A linkage secret this node holds for one agreement and epoch (sealed in a file)."""

    __tablename__ = "search_linkage_secrets"

    agreement: Mapped[str] = mapped_column(String(100), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LinkageEntry(Base):
    """A record's person encodings under one linkage key."""

    __tablename__ = "search_linkage_entries"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("search_entries.id", ondelete="CASCADE"), primary_key=True)
    encodings: Mapped[str] = mapped_column(Text)


class LinkageToken(Base):
    """An entry filed under one keyed token (blocking key or identifier hash)."""

    __tablename__ = "search_linkage_tokens"
    __table_args__ = (Index("ix_search_linkage_tokens_entry_id", "entry_id"),)

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigInt, ForeignKey("search_entries.id", ondelete="CASCADE"), primary_key=True)
