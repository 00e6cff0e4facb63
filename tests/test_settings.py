"""Configuration: defaults, user file, environment, derived paths, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.settings import PROJECT_ROOT, ConfigError, load_settings


def test_defaults_live_under_one_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.home == tmp_path / "data"
    assert settings.warehouse == tmp_path / "data" / "lake"  # a DuckLake folder
    assert settings.warehouse_catalog == ""
    assert settings.archive_dir == tmp_path / "data" / "archive"
    assert settings.outbox_dir == tmp_path / "data" / "outbox"
    assert settings.seeds_dir == PROJECT_ROOT / "seeds"
    assert settings.replay == ()


def test_crwatch_home_moves_everything(tmp_path: Path) -> None:
    settings = load_settings(environ={"CRWATCH_HOME": str(tmp_path / "h")})
    assert settings.warehouse.parent == tmp_path / "h"
    assert settings.prefect_home == tmp_path / "h" / "prefect"


def test_user_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('workers = 3\nreplay = ["a.warc.gz"]\nwarehouse = "/tmp/x.duckdb"\n')
    env = {"CRWATCH_CONFIG": str(config), "CRWATCH_WORKERS": "1", "CRWATCH_PROGRESS": "off"}
    settings = load_settings(environ=env)
    assert settings.workers == 1, "environment overrides the file"
    assert settings.replay == ("a.warc.gz",)
    assert settings.warehouse == Path("/tmp/x.duckdb")
    assert settings.progress is False


def test_env_list_is_comma_separated() -> None:
    settings = load_settings(environ={"CRWATCH_REPLAY": "a.warc.gz, b.warc.gz"})
    assert settings.replay == ("a.warc.gz", "b.warc.gz")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CRWATCH_WORKERS": "many"}, "workers"),
        ({"CRWATCH_PROGRESS": "maybe"}, "progress"),
        ({"CRWATCH_BATCH_SIZE": "0"}, "batch_size"),
        ({"CRWATCH_EXTRACT_TIMEOUT_SECONDS": "-1"}, "extract_timeout_seconds"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)


def test_unknown_keys_and_bad_toml_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("wokers = 2\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={"CRWATCH_CONFIG": str(config)})
    config.write_text("workers = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={"CRWATCH_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"CRWATCH_CONFIG": str(tmp_path / "missing.toml")})


def test_every_setting_is_documented_in_the_defaults_file() -> None:
    import tomllib

    defaults = tomllib.loads((PROJECT_ROOT / "crwatch.toml").read_text())
    from flows.settings import _TYPES

    undocumented = set(_TYPES) - set(defaults)
    assert not undocumented, f"add these to crwatch.toml with a comment: {sorted(undocumented)}"


def test_a_catalog_location_puts_the_lake_catalog_there(tmp_path: Path) -> None:
    from flows.settings import open_warehouse

    env = {"CRWATCH_HOME": str(tmp_path), "CRWATCH_WAREHOUSE": "postgres:dbname=crwatch port=5499"}
    settings = load_settings(environ=env)
    assert settings.warehouse_catalog == "postgres:dbname=crwatch port=5499"
    warehouse = open_warehouse(settings)
    assert warehouse.is_lake and warehouse.catalog_kind == "postgres"
    assert warehouse.data_path == str(tmp_path / "lake" / "data") + "/"
    single = open_warehouse(
        load_settings(environ={"CRWATCH_WAREHOUSE": str(tmp_path / "w.duckdb")})
    )
    assert not single.is_lake
    with pytest.raises(ConfigError, match="warehouse"):
        load_settings(environ={"CRWATCH_WAREHOUSE": "ducklake:mysql:db"})
