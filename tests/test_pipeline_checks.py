"""The main job's first check: outside the project it stops with one line, before it writes anything."""

from __future__ import annotations

import pytest

from python_udfs import pipeline
from python_udfs.errors import MarketingError
from tests.reliability_support import PROJECT


def test_outside_the_project_the_job_says_where_to_run_it_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    assert pipeline.main(["--no-show"]) == 1
    error = capsys.readouterr().err
    assert f"error: no dbt_project.yml in {tmp_path.resolve()}: run from the project's folder" in error
    assert "set DBT_PROJECT_DIR" in error
    assert list(tmp_path.iterdir()) == []


def test_dbt_project_dir_points_the_job_at_the_project_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(PROJECT))
    pipeline.check_project_dir()
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path))
    with pytest.raises(MarketingError, match=r"no dbt_project\.yml in"):
        pipeline.check_project_dir()
