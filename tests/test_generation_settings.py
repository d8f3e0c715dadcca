"""Generation settings: a `--vars` value, then the environment variable, then the default."""

from __future__ import annotations

import json
import re

import pytest

from python_udfs.generation import Settings
from python_udfs.generation.settings import ENVIRONMENT_VARIABLES
from tests.reliability_support import PROJECT, project_env, run_dbt

# Each setting: `<name>: "{{ var('generation_<name>', '') }}"`, under a comment that opens with
# `# <ENVIRONMENT VARIABLE>, default <value>`.
_SETTING = re.compile(r"^\s+(\w+): \"\{\{ var\('generation_(\w+)', ''\) \}\}\"$")
_COMMENT = re.compile(r"^\s+# (\w+), default ([^:]+?)(:.*)?$")
# Built at run time: the committed file holds nothing shaped like a key.
FAKE_KEY = "sk-" + "test-SETTINGS-fake-key-0123456789abcdef"


def _documented_settings() -> dict[str, tuple[str, str]]:
    """{setting: (environment variable, default)} from the comments in dbt_project.yml."""
    lines = (PROJECT / "dbt_project.yml").read_text().splitlines()
    documented = {}
    for number, line in enumerate(lines):
        setting = _SETTING.match(line)
        if not setting:
            continue
        name, var_name = setting.groups()
        assert var_name == name, line
        first_comment = number
        while lines[first_comment - 1].strip().startswith("#"):
            first_comment -= 1
        comment = _COMMENT.match(lines[first_comment])
        assert comment, f"{name}: no `# VARIABLE, default value` comment above it"
        documented[name] = comment.group(1), comment.group(2)
    return documented


def test_every_setting_is_a_var_whose_variable_and_default_are_named_above_it():
    documented = _documented_settings()
    assert set(documented) == set(ENVIRONMENT_VARIABLES)
    for name, (environment_variable, default) in documented.items():
        assert environment_variable == ENVIRONMENT_VARIABLES[name], name
        if default == "none":
            assert getattr(Settings(), name) is None, name
        else:
            assert Settings.from_config({name: default}) == Settings(), name


def test_dbt_project_renders_no_environment_variable():
    # One would make dbt re-parse the whole project whenever its value changes.
    assert "env_var(" not in (PROJECT / "dbt_project.yml").read_text()


def test_sql_reading_a_setting_falls_back_to_the_same_default():
    calls = [
        call
        for folder in ("models/**", "macros", "tests/dbt")
        for path in PROJECT.glob(f"{folder}/*.sql")
        for call in re.findall(r"generation_setting\(\"(\w+)\", ([^)]+)\)", path.read_text())
    ]
    assert calls, "generation_rounds plans the rounds with generation_setting"
    for name, default in calls:
        assert ENVIRONMENT_VARIABLES[name] == f"MARKETING_{name.upper()}", name
        assert Settings.from_config({name: default}) == Settings(), name


def test_settings_take_the_vars_then_the_environment_then_the_defaults(monkeypatch):
    environ = {"MARKETING_ROUNDS": "7", "MARKETING_PROVIDER": "openai", "MARKETING_SEED": "9"}
    settings = Settings.from_config(
        {"provider": "ollama", "rounds": "2", "only_client_ids": "[1, 3]", "temperature": "", "model": ""},
        environ,
    )
    assert (settings.provider, settings.rounds, settings.only_client_ids) == ("ollama", 2, (1, 3))
    assert settings.seed == 9
    assert settings.temperature is None
    assert settings.model_name == "gemma3:12b-it-qat"
    # Without an environment given, none is read.
    monkeypatch.setenv("MARKETING_ROUNDS", "7")
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
def test_vars_win_over_the_environment_read_at_run_time_and_never_the_api_key(tmp_path):
    env = project_env(
        tmp_path,
        MARKETING_ROUNDS="3",
        MARKETING_SEED="7",
        MARKETING_PROVIDER="openai",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        OPENAI_API_KEY=FAKE_KEY,
    )
    vars_ = ["--vars", "{generation_rounds: 5, generation_only_client_ids: [1, 2]}"]
    result = run_dbt(["parse", *vars_], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    config = manifest["nodes"]["model.client_marketing.marketing_messages"]["config"]["generation"]
    assert config["seed"] == config["provider"] == ""  # the environment is not rendered
    settings = Settings.from_config(config, env)
    assert settings.rounds == 5  # --vars wins over MARKETING_ROUNDS
    assert settings.only_client_ids == (1, 2)
    assert (settings.seed, settings.provider) == (7, "openai")  # the environment over the defaults
    assert settings.max_concurrency == Settings().max_concurrency
    for path in (tmp_path / "target").rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path

    # Another server and provider: dbt reuses its parse instead of parsing the project again.
    env.update(OPENAI_BASE_URL="http://127.0.0.1:10/v1", MARKETING_PROVIDER="ollama")
    again = run_dbt(["parse", *vars_], env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Unable to do partial parsing" not in again.stdout
