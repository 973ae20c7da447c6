"""Settings: one typed object, TOML + environment, no default secrets outside development."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import ConfigurationError
from accord.settings import DEFAULT_SECRET, load_settings


def test_production_refuses_default_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ACCORD_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="default"):
        load_settings(data_dir=tmp_path, mode="production")
    with pytest.raises(ConfigurationError, match="default"):
        load_settings(data_dir=tmp_path, mode="test")


def test_development_accepts_default_secret(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path, mode="development")
    assert s.secret_key.get_secret_value() == DEFAULT_SECRET
    assert DEFAULT_SECRET not in repr(s)  # secrets never printed


def test_toml_then_env_then_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "accord.toml").write_text(
        'mode = "production"\nsecret_key = "' + "s" * 40 + '"\nnode_id = "from-toml"\nport = 9000\n'
        'country = "fr"\nkey_passphrase = "pp"\n')
    s = load_settings(data_dir=tmp_path)
    assert (s.node_id, s.port, s.country) == ("from-toml", 9000, "FR")
    monkeypatch.setenv("ACCORD_PORT", "9100")
    assert load_settings(data_dir=tmp_path).port == 9100
    assert load_settings(data_dir=tmp_path, port=9200).port == 9200


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "accord.toml").write_text('mode = "development"\nnot_a_setting = 1\n')
    with pytest.raises(ConfigurationError):
        load_settings(data_dir=tmp_path)


def test_movable_clock_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="clock"):
        load_settings(data_dir=tmp_path, mode="production", secret_key="s" * 40, clock="offset")


def test_production_needs_a_key_passphrase(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path, mode="production", secret_key="s" * 40)
    with pytest.raises(ConfigurationError, match="passphrase"):
        s.passphrase()
    f = tmp_path / "pp"
    f.write_text("from-file\n")
    s = load_settings(data_dir=tmp_path, mode="production", secret_key="s" * 40, key_passphrase_file=f)
    assert s.passphrase() == b"from-file"
