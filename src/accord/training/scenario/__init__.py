"""Synthetic scenarios with ground truth: ``generate_scenario``.

See docs/scenarios.md for the files written and the conventions used.
"""

from accord.training.scenario.generator import (
    GENERATOR_VERSION,
    REFERENCE_DATE,
    ScenarioSummary,
    generate_scenario,
)

__all__ = ["GENERATOR_VERSION", "REFERENCE_DATE", "ScenarioSummary", "generate_scenario"]
