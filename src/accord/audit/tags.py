"""Audit actions as ``source:subject:action`` tags."""

from enum import StrEnum


class Action(StrEnum):
    LOGIN_OK = "auth:login:ok"
    LOGIN_WRONG_PASSWORD = "auth:login:wrong-password"
    LOGIN_WRONG_TOTP = "auth:login:wrong-totp"
    LOGIN_LOCKED = "auth:login:locked"
    LOGOUT = "auth:session:logout"
    SESSION_EXPIRED = "auth:session:expired"
    TOKEN_EXPIRED = "auth:token:expired"
    TOKEN_OUT_OF_SCOPE = "auth:token:out-of-scope"
    ROLE_DENIED = "auth:role:denied"
    TOKEN_CREATED = "auth:token:created"
    TOKEN_REVOKED = "auth:token:revoked"

    NODE_INIT = "node:node:init"
    AGENCY_CREATED = "node:agency:created"
    KEY_CREATED = "node:key:created"
    KEY_ROTATED = "node:key:rotated"
    KEY_REVOKED = "node:key:revoked"
    PEER_PINNED = "node:peer:pinned"
    PEER_REFUSED = "node:peer:refused"

    OFFICER_CREATED = "parties:officer:created"
    OFFICER_READ = "parties:officer:read"
    OFFICER_UNLOCKED = "parties:officer:unlocked"

    AUDIT_READ = "audit:entries:read"
    AUDIT_VERIFIED = "audit:log:verified"

    POLICY_DECISION = "policy:decision:made"

    RECORD_CREATED = "records:record:created"
    RECORD_READ = "records:record:read"
    RECORD_LISTED = "records:records:listed"
    RECORD_UPDATED = "records:record:updated"
    RECORD_DELETED = "records:record:deleted"
    RECORD_DENIED = "records:record:denied"
    RECORD_IMPORTED = "records:batch:imported"
    RECORD_EXPORTED = "records:batch:exported"
    RECORD_RETENTION_DELETED = "records:record:retention-deleted"
    RECORD_RETENTION_FLAGGED = "records:record:retention-flagged"

    MESSAGE_SENT = "exchange:message:sent"
    MESSAGE_RECEIVED = "exchange:message:received"
    MESSAGE_LISTED = "exchange:message:listed"
    MESSAGE_READ = "exchange:message:read"
    MESSAGE_ACKNOWLEDGED = "exchange:message:acknowledged"
    MESSAGE_STATE = "exchange:message:state-changed"
    MESSAGE_REFUSED = "exchange:message:refused"
    MESSAGE_DEAD_LETTER = "exchange:message:dead-letter"
    MESSAGE_DENIED = "exchange:message:denied"
    ENVELOPE_ACCEPTED = "exchange:envelope:accepted"
    ENVELOPE_DUPLICATE = "exchange:envelope:duplicate"
    ENVELOPE_REJECTED = "exchange:envelope:rejected"
    ENVELOPE_DELIVERED = "exchange:envelope:delivered"
