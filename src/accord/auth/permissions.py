"""What each role may do. Routes name a permission; roles grant permissions."""

from __future__ import annotations

from enum import StrEnum

from accord.parties.domain import Role


class Permission(StrEnum):
    SELF_READ = "self:read"
    AGENCIES_READ = "agencies:read"
    OFFICERS_READ = "officers:read"
    OFFICERS_WRITE = "officers:write"
    TOKENS_OWN = "tokens:own"  # create, list and revoke one's own API tokens
    TOKENS_MANAGE = "tokens:manage"  # list and revoke the tokens of the officers one manages
    PEERS_READ = "peers:read"
    PEERS_WRITE = "peers:write"
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    AUDIT_READ = "audit:read"
    POLICY_EXPLAIN = "policy:explain"
    AGREEMENTS_READ = "agreements:read"
    RECORDS_READ = "records:read"
    RECORDS_WRITE = "records:write"
    MESSAGES_READ = "messages:read"
    MESSAGES_SEND = "messages:send"
    ALERTS_READ = "alerts:read"
    ALERTS_WRITE = "alerts:write"  # issue and withdraw alerts
    SEARCH_QUERY = "search:query"  # hit/no-hit searches of peers


_EVERYONE = {Permission.SELF_READ, Permission.TOKENS_OWN}
_CASEWORK = {
    Permission.AGENCIES_READ, Permission.POLICY_EXPLAIN, Permission.AGREEMENTS_READ,
    Permission.RECORDS_READ, Permission.RECORDS_WRITE,
    Permission.MESSAGES_READ, Permission.MESSAGES_SEND, Permission.SEARCH_QUERY,
}

_ADMINISTRATION = {
    Permission.AGENCIES_READ, Permission.OFFICERS_READ, Permission.OFFICERS_WRITE,
    Permission.TOKENS_MANAGE, Permission.PEERS_READ,
    Permission.KEYS_READ, Permission.KEYS_WRITE, Permission.AGREEMENTS_READ,
    Permission.POLICY_EXPLAIN,
}

# An admin and a node-admin hold the same permissions but one; what differs is whom they act
# on: an admin only on its own agency's officers and keys, a node-admin on every agency of
# the node (Principal.require_agency). Neither grants a clearance above its own. Pinning or
# refreshing a peer is trust for the whole node, so only a node-admin may (peers:write).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: frozenset(_EVERYONE | _CASEWORK | {Permission.ALERTS_READ, Permission.ALERTS_WRITE}),
    Role.ANALYST: frozenset(_EVERYONE | _CASEWORK | {Permission.ALERTS_READ}),
    Role.SPOC: frozenset(_EVERYONE | _CASEWORK | {Permission.PEERS_READ, Permission.ALERTS_READ,
                                                  Permission.ALERTS_WRITE}),
    Role.LEGAL: frozenset(_EVERYONE | {
        Permission.AGENCIES_READ, Permission.POLICY_EXPLAIN, Permission.AGREEMENTS_READ,
        Permission.RECORDS_READ, Permission.MESSAGES_READ, Permission.ALERTS_READ,
    }),
    Role.DPO: frozenset(_EVERYONE | {
        Permission.AUDIT_READ, Permission.POLICY_EXPLAIN, Permission.AGREEMENTS_READ,
        Permission.OFFICERS_READ,
    }),
    Role.ADMIN: frozenset(_EVERYONE | _ADMINISTRATION),
    Role.NODE_ADMIN: frozenset(_EVERYONE | _ADMINISTRATION | {Permission.PEERS_WRITE}),
}


def permissions_of(roles: frozenset[Role] | set[Role] | tuple[Role, ...]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def roles_granting(permission: Permission) -> frozenset[Role]:
    return frozenset(r for r, perms in ROLE_PERMISSIONS.items() if permission in perms)
