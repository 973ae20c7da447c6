"""/federation/v1: node-to-node traffic. The descriptor is public and signed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from accord.parties import services as parties
from accord.web.deps import NodeDep, SessionDep

router = APIRouter(prefix="/federation/v1", tags=["federation"])


@router.get("/node")
def node_descriptor(s: SessionDep, node: NodeDep) -> dict[str, Any]:
    """This node's id, agencies, public keys and fingerprints, signed by the node key."""
    return parties.node_descriptor(node, s)
