"""The retry backoff is capped: with the default settings a peer that comes back is tried
again within 5 s of its last failed attempt, however many attempts came before."""

from __future__ import annotations

import random
from pathlib import Path

from accord.exchange.domain import backoff_delay
from accord.settings import Settings
from tests.conftest import make_settings


def test_default_cap_is_five_seconds() -> None:
    assert Settings.model_fields["exchange_retry_max_seconds"].default == 5.0


def test_every_delay_with_the_default_settings_is_at_most_five_seconds(tmp_path: Path) -> None:
    st = make_settings(tmp_path, "sqlite://")
    rng = random.Random(2026)
    delays = [backoff_delay(attempt, base=st.exchange_retry_base_seconds,
                            cap=st.exchange_retry_max_seconds, rng=rng)
              for attempt in range(1, 1001) for _ in range(5)]
    assert max(delays) <= 5.0
    assert min(delays[-500:]) >= 2.5  # capped, not collapsed: equal jitter keeps half the cap
    assert len(set(delays[-500:])) > 400  # still jittered at the cap


def test_a_configured_cap_is_honoured(tmp_path: Path) -> None:
    st = make_settings(tmp_path, "sqlite://", exchange_retry_max_seconds=30.0)
    rng = random.Random(3)
    delays = [backoff_delay(a, base=st.exchange_retry_base_seconds,
                            cap=st.exchange_retry_max_seconds, rng=rng) for a in range(1, 1001)]
    assert max(delays) <= 30.0 and max(delays) > 5.0
