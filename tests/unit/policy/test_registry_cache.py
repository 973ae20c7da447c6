"""The node's agreements are cached between checks of the folder, and reloaded when it changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from accord.agreements import Actor, Resource
from accord.clock import ManualClock
from accord.policy.services import PolicyService

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agreements"
ASK = (Actor("ES-PN", "FR-PN"), "message", Resource({"person"}, "0601", "H1"), "investigation")


def test_cached_until_recheck_then_reloaded(tmp_path: Path, clock: ManualClock) -> None:
    folder = tmp_path / "agreements"
    folder.mkdir()
    service = PolicyService(folder, clock, recheck_seconds=3600)
    assert not service.decide(*ASK).allowed  # empty folder: everything denied
    shutil.copytree(EXAMPLES, folder, dirs_exist_ok=True)
    assert not service.decide(*ASK).allowed  # cached: the folder is not looked at yet
    service.recheck_seconds = 0
    assert service.decide(*ASK).allowed  # looked at again: the new agreements apply


def test_unchanged_folder_keeps_the_same_registry(tmp_path: Path, clock: ManualClock) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "a")
    service = PolicyService(tmp_path / "a", clock, recheck_seconds=0)
    first = service.registry()
    assert service.registry() is first
