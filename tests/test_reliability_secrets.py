"""Secrets never land in a file, and a committed key-like string fails the suite."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.reliability_support import (
    PROJECT,
    fake_key,
    files_holding,
    key_like_strings,
)

SECRET_WORDS = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.I)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True, check=False)


def committable_files() -> list[Path]:
    """Files git tracks, plus new ones it would add (not ignored): what a commit can carry."""
    listing = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert listing.returncode == 0, listing.stderr
    return [PROJECT / name for name in listing.stdout.split("\0") if name and (PROJECT / name).is_file()]


def key_like_strings_in(paths: list[Path]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary: not where a pasted key hides
            continue
        hits = key_like_strings(data.decode("utf-8", "replace"))
        if hits:
            found[str(path)] = hits
    return found


# -- the scanner ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "planted",
    [
        lambda: f"client = OpenAI(api_key='{fake_key()}')\n",
        lambda: f"OPENAI_API_KEY={fake_key()}\n",
        lambda: f"export OPENAI_API_KEY='{fake_key('sk-proj-')}'\n",
        lambda: f"headers = {{'Authorization': 'Bearer {uuid.uuid4().hex}{uuid.uuid4().hex}'}}\n",
    ],
    ids=["sk-key", "env-file", "project-key", "bearer"],
)
def test_the_scanner_catches_a_planted_key(tmp_path, planted):
    planted_file = tmp_path / "leaky.py"
    planted_file.write_text("print('hello')\n" + planted(), encoding="utf-8")
    assert str(planted_file) in key_like_strings_in([planted_file])


@pytest.mark.parametrize(
    "harmless",
    [
        "OPENAI_API_KEY=\n",
        "export OPENAI_API_KEY=your-key-here\n",
        "api_key = os.environ['OPENAI_API_KEY']\n",
        "the sk-learn docs\n",
        "Authorization: Bearer $TOKEN\n",
    ],
)
def test_the_scanner_ignores_placeholders(tmp_path, harmless):
    planted_file = tmp_path / "docs.md"
    planted_file.write_text(harmless, encoding="utf-8")
    assert key_like_strings_in([planted_file]) == {}


def test_a_line_marked_as_a_deliberate_fake_is_skipped(tmp_path):
    planted_file = tmp_path / "test_fake.py"
    planted_file.write_text(f"KEY = '{fake_key()}'  # pragma: allowlist secret\n", encoding="utf-8")
    assert key_like_strings_in([planted_file]) == {}


def test_no_committable_file_holds_a_key_like_string():
    files = committable_files()
    assert len(files) > 20, "git ls-files found almost nothing: is this the project's repository?"
    assert key_like_strings_in(files) == {}


# -- configuration ---------------------------------------------------------------------------------


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, str(index)))
    else:
        yield path, node


def test_profiles_reads_secrets_only_with_env_var():
    text = (PROJECT / "profiles.yml").read_text(encoding="utf-8")
    assert key_like_strings(text) == []
    for path, value in _leaves(yaml.safe_load(text)):
        if any(SECRET_WORDS.search(part) for part in path):
            assert isinstance(value, str) and re.fullmatch(r"\{\{\s*env_var\(.+\)\s*\}\}", value.strip()), (
                f"profiles.yml {'.'.join(path)} must be read with env_var(), not written in the file"
            )
        # Every template in the profile reads the environment; nothing else is computed there.
        for expression in re.findall(r"\{\{(.*?)\}\}", str(value)):
            assert expression.strip().startswith("env_var("), f"{'.'.join(path)}: {{{{{expression}}}}}"


@pytest.mark.parametrize(
    "path", [".env", "data/marketing.duckdb", "data/llm_cache.duckdb", "data/exports/crm_export.json"]
)
def test_secret_and_data_files_are_ignored_by_git(path):
    """`.env` holds keys, `data/` holds CPFs: neither may ever be committed."""
    result = git("check-ignore", "-q", path)
    assert result.returncode == 0, f"{path} is not ignored by git"


# -- a whole run with a recognisable key -------------------------------------------------------------


@pytest.mark.slow
def test_the_api_key_appears_in_no_output_log_target_database_cache_or_export(shared_pipeline_run):
    run = shared_pipeline_run
    tmp, key, pipeline = run["tmp"], run["key"], run["result"]
    assert run["answered"] > 0, pipeline.stdout[-3000:] + pipeline.stderr[-3000:]
    # The build ran every data test with --store-failures: their output is the pipeline's.
    outputs = {"pipeline stdout": pipeline.stdout, "pipeline stderr": pipeline.stderr}
    assert [name for name, text in outputs.items() if key in text] == []
    assert (tmp / "marketing.duckdb").exists() and (tmp / "llm_cache.duckdb").exists()
    assert (tmp / "target").is_dir() and (tmp / "logs").is_dir()
    # tmp holds target/, logs/, marketing.duckdb, llm_cache.duckdb, exports/ and dlt/.
    roots = [tmp] + [PROJECT / name for name in ("target", "logs") if (PROJECT / name).exists()]
    assert files_holding(key, roots) == []
    # The key's distinctive middle part, in case something stored it cut or re-encoded.
    assert files_holding(key[3:30], roots) == []


@pytest.mark.slow
def test_a_first_run_on_a_fresh_machine_succeeds_and_writes_the_exports(shared_pipeline_run):
    """Nothing is created by hand first: `data/exports` does not exist on a fresh clone either."""
    tmp, pipeline = shared_pipeline_run["tmp"], shared_pipeline_run["result"]
    assert pipeline.returncode == 0, pipeline.stdout[-3000:] + pipeline.stderr[-3000:]
    assert (tmp / "exports" / "crm_export.json").exists()
