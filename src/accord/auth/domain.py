"""Who is asking, and the authorization object handed to services.

A :class:`Principal` is an officer signed in with a session or an API token;
the :class:`Operator` is whoever runs the command line on the node (it holds
the data folder, so no officer rule binds it). Services that manage officers
take either, as ``by``, and check a principal with the methods below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accord.auth.permissions import Permission, permissions_of
from accord.errors import PermissionDenied, TokenOutOfScope
from accord.parties.domain import Handling, Role


@dataclass(frozen=True)
class Principal:
    officer_id: int
    username: str
    agency_id: str
    country: str
    roles: frozenset[Role]  # effective roles (a token's scope ∩ its officer's roles)
    officer_roles: frozenset[Role]
    clearance: Handling
    via: str  # "session" | "token" | "cli"
    credential_id: str  # session hash prefix or token id

    @property
    def actor(self) -> str:
        return f"{self.agency_id}/{self.username}"

    @property
    def audit_credential(self) -> str:
        """What acted, for the audit trail: ``session:<hash prefix>``, ``token:<id>`` or ``cli``."""
        if self.credential_id in ("", self.via):
            return self.via
        return f"{self.via}:{self.credential_id}"

    @property
    def node_wide(self) -> bool:
        """A node-admin manages the officers of every agency the node hosts."""
        return Role.NODE_ADMIN in self.roles

    def can(self, permission: Permission) -> bool:
        return permission in permissions_of(self.roles)

    def require(self, permission: Permission) -> None:
        """Raise unless the principal's roles grant the permission."""
        if self.can(permission):
            return
        if self.via == "token" and permission in permissions_of(self.officer_roles):
            raise TokenOutOfScope(
                f"this API token is scoped to {sorted(r.value for r in self.roles)}, "
                f"which does not include {permission.value}",
                permission=permission.value,
            )
        raise PermissionDenied(
            f"your roles {sorted(r.value for r in self.roles)} do not allow {permission.value}",
            permission=permission.value,
        )

    def require_agency(self, agency_id: str) -> None:
        """Raise unless the principal may manage (and see) the officers and keys of
        ``agency_id`` (or of the node, when ``agency_id`` is the node id)."""
        if self.node_wide or agency_id == self.agency_id:
            return
        raise PermissionDenied(
            f"you manage {self.agency_id} only, not {agency_id} "
            "(the node-admin role manages every agency of the node, and the node)",
            reason="other-agency", agency=agency_id,
        )

    def require_grant(self, roles: Iterable[Role], clearance: Handling) -> None:
        """Raise unless the principal may give an officer these roles and this clearance:
        never a clearance above its own, and the node-admin role only from a node-admin."""
        if clearance.rank > self.clearance.rank:
            raise PermissionDenied(
                f"you cannot grant clearance {clearance.value}, above your own "
                f"{self.clearance.value}",
                reason="clearance-above-own", clearance=clearance.value,
            )
        if Role.NODE_ADMIN in set(roles) and not self.node_wide:
            raise PermissionDenied("only a node-admin can grant the node-admin role",
                                   reason="role-above-own", role=Role.NODE_ADMIN.value)


@dataclass(frozen=True)
class Operator:
    """The node operator: the command line, the demo, tests' factories.

    It holds the data folder (database, keys, the secret that seals TOTP seeds),
    so no officer rule could bind it; services name it as such. ``name`` is the
    audit actor (``cli``, ``demo``, ``system``).
    """

    name: str = "cli"

    @property
    def actor(self) -> str:
        return self.name

    @property
    def audit_credential(self) -> str:
        return ""


By = Principal | Operator
