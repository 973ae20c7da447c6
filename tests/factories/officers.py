"""Factories for officers and logged-in clients."""

from __future__ import annotations

from dataclasses import dataclass

from accord.auth import secrets as sec
from accord.auth.domain import Operator
from accord.bootstrap import Node
from accord.parties import services as parties

PASSWORD = "correct horse battery staple"
OPERATOR = Operator("system")


@dataclass
class OfficerHandle:
    username: str
    password: str
    totp_secret: str

    def code(self, node: Node) -> str:
        """The current TOTP code. A code is good once: log in again only after the node's
        clock has moved to another 30-second step."""
        return sec.totp_now(self.totp_secret, node.now().timestamp())


def make_officer(node: Node, username: str = "garcia", *, roles: list[str] | None = None,
                 agency: str = "ES-PN", clearance: str = "H2") -> OfficerHandle:
    """An enrolled officer, made by the node operator (who learns its TOTP secret)."""
    with node.uow() as s:
        new = parties.provision_officer(node, s, username=username, display_name=username.title(),
                                        agency_id=agency, roles=roles or ["officer"],
                                        clearance=clearance, password=PASSWORD, by=OPERATOR)
    return OfficerHandle(username, PASSWORD, new.totp_secret)
