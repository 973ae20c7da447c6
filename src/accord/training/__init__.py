"""Training: synthetic scenarios with ground truth (exercises come later)."""

from accord.training.scenario import ScenarioSummary, generate_scenario

__all__ = ["ScenarioSummary", "generate_scenario"]
