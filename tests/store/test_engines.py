"""Engine selection: the workspace configuration file, the environment, passwords kept out."""

from __future__ import annotations

import pytest

from sourcegrid.errors import WorkspaceError
from sourcegrid.store import engines
from sourcegrid.store.engines import CONFIG_FILE, EngineConfig, read_config, redact, resolve


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (engines.ENGINE_VAR, engines.DSN_VAR, engines.MASTER_VAR):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("text, expected", [
    ("postgresql://ana:s3cr%40t@db.example:5432/air", "postgresql://ana:***@db.example:5432/air"),
    ("postgres://:only@host/db", "postgres://:***@host/db"),
    ("host=db port=5432 password=s3cret dbname=air", "host=db port=5432 password=*** dbname=air"),
    ("host=db password = 'a b\\'c' user=ana", "host=db password = *** user=ana"),
    ("PASSWORD=x1 host=db", "PASSWORD=*** host=db"),
    ("postgresql://ana@db/air", "postgresql://ana@db/air"),  # nothing to hide
])
def test_redact_hides_passwords_in_both_dsn_forms(text, expected):
    assert redact(text) == expected


def test_public_dsn_drops_the_password():
    public = engines.public_dsn("postgresql://ana:s3cret@db:6543/air?sslmode=require")
    assert "s3cret" not in public and "password" not in public
    assert set(public.split()) == {"user=ana", "host=db", "port=6543", "dbname=air",
                                   "sslmode=require"}


def test_config_round_trip_never_stores_the_password(tmp_path):
    config = EngineConfig(engine="postgres", dsn="postgresql://ana:s3cret@db/air", schema="city")
    path = engines.write_config(tmp_path, config)
    assert path.name == CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text and 'engine = "postgres"' in text
    back = read_config(tmp_path)
    assert back.engine == "postgres" and back.schema == "city"
    assert set(back.dsn.split()) == {"user=ana", "host=db", "dbname=air"}


def test_a_config_file_with_a_password_is_refused_without_echoing_it(tmp_path):
    (tmp_path / CONFIG_FILE).write_text(
        '[workspace]\nengine = "postgres"\ndsn = "postgresql://ana:s3cret@db/air"\n',
        encoding="utf-8")
    with pytest.raises(WorkspaceError, match="holds a password") as caught:
        read_config(tmp_path)
    assert "s3cret" not in str(caught.value)


def test_a_bad_config_file_lists_every_problem(tmp_path):
    (tmp_path / CONFIG_FILE).write_text('[workspace]\nengine = "postgres"\nhost = "db"\n'
                                        'master = 7\n', encoding="utf-8")
    with pytest.raises(WorkspaceError) as caught:
        read_config(tmp_path)
    assert "unknown key 'host'" in str(caught.value)
    assert "master must be a text, got 7" in str(caught.value)


def test_unknown_engine_names_the_valid_ones(tmp_path):
    with pytest.raises(WorkspaceError, match="unknown engine 'oracle' .*duckdb, postgres, spark"):
        resolve(tmp_path, engine="oracle")


def test_arguments_override_the_environment_which_overrides_the_file(tmp_path, monkeypatch):
    engines.write_config(tmp_path, EngineConfig(engine="spark", master="local[1]"))
    assert resolve(tmp_path) == (EngineConfig(engine="spark", master="local[1]"), True)
    monkeypatch.setenv(engines.ENGINE_VAR, "postgresql")  # an alias
    monkeypatch.setenv(engines.DSN_VAR, "host=db dbname=air")
    config, stored = resolve(tmp_path)
    assert (config.engine, config.dsn, stored) == ("postgres", "host=db dbname=air", True)
    config, _ = resolve(tmp_path, engine="duckdb")
    assert config.engine == "duckdb"


def test_no_file_and_no_environment_is_duckdb(tmp_path):
    assert resolve(tmp_path / "new") == (EngineConfig(), False)


def test_a_malformed_dsn_is_reported_redacted(tmp_path):
    with pytest.raises(WorkspaceError, match="not a libpq connection string") as caught:
        resolve(tmp_path, engine="postgres", dsn="host=db password=s3cret 'unterminated")
    assert "s3cret" not in str(caught.value)
