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
        'mode = "test"\nsecret_key = "' + "s" * 40 + '"\nnode_id = "from-toml"\nport = 9000\n'
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
    data = tmp_path / "node"
    s = load_settings(data_dir=data, mode="production", secret_key="s" * 40)
    with pytest.raises(ConfigurationError, match="passphrase"):
        s.passphrase()
    f = tmp_path / "pp"  # outside the data folder
    f.write_text("from-file\n")
    s = load_settings(data_dir=data, mode="production", secret_key="s" * 40, key_passphrase_file=f)
    assert s.passphrase() == b"from-file"


# -- secrets at rest (issue 7, finding 6) ------------------------------------------------
def test_production_refuses_secrets_in_the_data_folder_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ACCORD_SECRET_KEY", raising=False)
    secret = "in-the-data-folder-" + "s" * 30
    config = tmp_path / "accord.toml"
    config.write_text(f'mode = "production"\nsecret_key = "{secret}"\n')
    with pytest.raises(ConfigurationError, match="inside the data folder") as info:
        load_settings(data_dir=tmp_path)
    assert "secret_key_file" in info.value.detail and secret not in info.value.detail
    # the same file in test mode is fine (accord init writes it so outside production)
    config.write_text(f'mode = "test"\nsecret_key = "{secret}"\n')
    assert load_settings(data_dir=tmp_path).secret_key.get_secret_value() == secret
    # a key passphrase there is refused in production too
    config.write_text('mode = "production"\nkey_passphrase = "pp"\n')
    monkeypatch.setenv("ACCORD_SECRET_KEY", "e" * 40)
    with pytest.raises(ConfigurationError, match="key_passphrase_file"):
        load_settings(data_dir=tmp_path)
    # production with the secret from the environment and no secret in the folder: accepted
    config.write_text('mode = "production"\nnode_id = "es-node"\n')
    assert load_settings(data_dir=tmp_path).secret_key.get_secret_value() == "e" * 40


def test_secret_key_file_outside_the_data_folder(tmp_path: Path) -> None:
    data, outside = tmp_path / "node", tmp_path / "etc"
    data.mkdir()
    outside.mkdir()
    secret = "from-a-file-" + "k" * 40
    (outside / "secret").write_text(secret + "\n")
    s = load_settings(data_dir=data, mode="production", secret_key_file=outside / "secret")
    assert s.secret_key.get_secret_value() == secret
    with pytest.raises(ConfigurationError, match="not both"):
        load_settings(data_dir=data, mode="production", secret_key_file=outside / "secret",
                      secret_key="x" * 40)
    with pytest.raises(ConfigurationError, match="cannot read secret_key_file"):
        load_settings(data_dir=data, mode="production", secret_key_file=outside / "missing")
    short = outside / "short"
    short.write_text("tiny\n")
    with pytest.raises(ConfigurationError, match="at least 32") as info:
        load_settings(data_dir=data, mode="production", secret_key_file=short)
    assert "tiny" not in info.value.detail  # a secret never appears in an error


def test_production_refuses_secret_files_inside_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "node"
    (data / "sub").mkdir(parents=True)
    (data / "secret").write_text("k" * 40)
    alias = tmp_path / "alias"
    alias.symlink_to(data)
    for inside in (data / "secret", data / "sub" / ".." / "secret", alias / "secret"):
        with pytest.raises(ConfigurationError, match="inside the data folder"):
            load_settings(data_dir=data, mode="production", secret_key_file=inside)
        with pytest.raises(ConfigurationError, match="inside the data folder"):
            load_settings(data_dir=data, mode="production", secret_key="s" * 40,
                          key_passphrase_file=inside)
    # outside production the same files are accepted
    assert load_settings(data_dir=data, mode="test", secret_key_file=alias / "secret").secret_key


def test_unsafe_fast_key_sealing_only_in_test_mode(tmp_path: Path) -> None:
    for mode in ("production", "development"):
        with pytest.raises(ConfigurationError, match="unsafe_fast_key_sealing"):
            load_settings(data_dir=tmp_path, mode=mode, secret_key="s" * 40,
                          unsafe_fast_key_sealing=True)
    s = load_settings(data_dir=tmp_path, mode="test", secret_key="s" * 40, unsafe_fast_key_sealing=True)
    assert s.key_seal_cost.memory_kib < 1024
    assert load_settings(data_dir=tmp_path, mode="test", secret_key="s" * 40).key_seal_cost.memory_kib >= 65536
