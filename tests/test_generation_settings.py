"""Generation settings have one source: dbt_project.yml's `generation` config, `--vars` over env."""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml

from python_udfs.generation import Settings
from python_udfs.generation.settings import ENVIRONMENT_VARIABLES
from tests.reliability_support import PROJECT, project_env, run_dbt

# Each setting: `{{ var('generation_<name>', env_var('<ENVIRONMENT VARIABLE>', <default>)) }}`.
_EXPRESSION = re.compile(r"^\{\{ var\('generation_(\w+)', env_var\('(\w+)', (.+)\)\) \}\}$")
# Built at run time: the committed file holds nothing shaped like a key.
FAKE_KEY = "sk-" + "test-SETTINGS-fake-key-0123456789abcdef"


def _project_config() -> dict[str, str]:
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())
    return project["models"]["client_marketing"]["marts"]["marketing"]["marketing_messages"]["+generation"]


def test_every_setting_is_a_var_then_its_environment_variable_then_the_same_default():
    config = _project_config()
    assert set(config) == set(ENVIRONMENT_VARIABLES)
    for name, expression in config.items():
        match = _EXPRESSION.match(expression)
        assert match, f"{name}: {expression!r} is not var('generation_{name}', env_var(..., default))"
        var_name, environment_variable, default = match.groups()
        assert (var_name, environment_variable) == (name, ENVIRONMENT_VARIABLES[name])
        # The default dbt renders parses to the default Python callers get.
        assert Settings.from_config({name: ast.literal_eval(default)}) == Settings(), name


def test_settings_parse_rendered_vars_and_nothing_else(monkeypatch):
    monkeypatch.setenv("MARKETING_ROUNDS", "7")
    monkeypatch.setenv("MARKETING_PROVIDER", "openai")
    settings = Settings.from_config(
        {"provider": "ollama", "rounds": "2", "only_client_ids": "[1, 3]", "temperature": "", "model": ""}
    )
    assert (settings.provider, settings.rounds, settings.only_client_ids) == ("ollama", 2, (1, 3))
    assert settings.temperature is None
    assert settings.model_name == "gemma3:12b-it-qat"
    assert Settings.from_config({}).rounds == 1


def test_the_sql_function_reads_the_environment_variables():
    environ = {"MARKETING_PROVIDER": "openai", "OPENAI_BASE_URL": "http://h:1/v1", "MARKETING_SEED": "7"}
    settings = Settings.from_environment(environ)
    assert (settings.provider, settings.base_url, settings.seed) == ("openai", "http://h:1/v1", 7)
    assert Settings.from_environment({}) == Settings()


def test_settings_reject_unknown_names_and_providers():
    with pytest.raises(ValueError, match="unknown generation settings: rouns"):
        Settings.from_config({"rouns": 2})
    with pytest.raises(ValueError, match="provider must be one of"):
        Settings.from_config({"provider": "gpt"})


@pytest.mark.slow
def test_dbt_renders_vars_over_the_environment_and_never_the_api_key(tmp_path):
    env = project_env(
        tmp_path,
        MARKETING_ROUNDS="3",
        MARKETING_SEED="7",
        MARKETING_PROVIDER="openai",
        OPENAI_API_KEY=FAKE_KEY,
    )
    result = run_dbt(["parse", "--vars", "{generation_rounds: 5, generation_only_client_ids: [1, 2]}"], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    config = manifest["nodes"]["model.client_marketing.marketing_messages"]["config"]["generation"]
    settings = Settings.from_config(config)
    assert settings.rounds == 5  # --vars wins over MARKETING_ROUNDS
    assert settings.only_client_ids == (1, 2)
    assert (settings.seed, settings.provider) == (7, "openai")  # the environment over the defaults
    assert settings.max_concurrency == Settings().max_concurrency
    for path in (tmp_path / "target").rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
