"""The main job's `dbt build` step, which runs in the pipeline's own process: what the job says when
dbt refuses its arguments or its build fails. (The shared pipeline run in conftest.py shows that it
reads the database dbt wrote once the build succeeds.)"""

from __future__ import annotations

import shutil

import pytest

from tests.client_exports import EXPORTS
from tests.reliability_support import csv_vars, project_env, run_pipeline

pytestmark = pytest.mark.slow


def test_an_option_dbt_does_not_know_stops_the_job_with_one_line(tmp_path):
    result = run_pipeline(["--no-show", "--", "--no-such-flag"], project_env(tmp_path))
    assert result.returncode == 1, result.stdout[-3000:]
    assert "error: dbt build: No such option: --no-such-flag" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_failed_build_stops_the_job_after_dbt_names_the_rows(tmp_path):
    imports = tmp_path / "imports"
    imports.mkdir()
    shutil.copy(EXPORTS / "clients_ids.csv", imports / "clients_ids.csv")
    env = project_env(tmp_path, MARKETING_CLIENTS_CSV=str(imports / "clients_*.csv"))
    result = run_pipeline(["--no-show", "--", *csv_vars(), "--select", "+clients"], env)
    assert result.returncode == 1
    assert "rejected_share_at_most(clients): 5 of 8 clients rows set aside" in result.stdout
    assert result.stderr.strip().endswith(
        "error: dbt build failed: the lines above name the model or test and the rows."
    )
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("flags", [[], ["--unit-tests"]], ids=["main job", "with unit tests"])
def test_the_main_job_leaves_dbt_unit_tests_to_ci_unless_asked(tmp_path, flags):
    # An option dbt refuses stops the build before any node: the command line is what is checked.
    result = run_pipeline([*flags, "--no-show", "--", "--no-such-flag"], project_env(tmp_path))
    command = next(line for line in result.stdout.splitlines() if line.startswith("$ dbt build"))
    assert ("--exclude-resource-type unit_test" in command) != bool(flags), command
