"""Who is asking, and the authorization object handed to services."""

from __future__ import annotations

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
    via: str  # "session" | "token"
    credential_id: str  # session hash prefix or token id

    @property
    def actor(self) -> str:
        return f"{self.agency_id}/{self.username}"

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
