"""The policy decision point as a node service: cached agreements, every decision audited."""

from accord.policy.services import PolicyService

__all__ = ["PolicyService"]
