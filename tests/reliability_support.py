"""Helpers shared by the `test_reliability_*` files: isolated dbt runs, PII and secret scanners.

Every run here writes only under a temporary directory: its own DuckDB files, cache, exports, dbt
`target/` and `logs/` (through the environment variables dbt and the project read), so the suite
never touches the project's `data/`, `target/` or `logs/`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tests.forked_runs import run_forked

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DBT = BIN / "dbt"
DUCKDB_CLI = BIN / "duckdb"

# Variables a developer's shell may hold that would point a test run at real files or servers.
_INHERITED_PREFIXES = ("MARKETING_", "OPENAI_", "OLLAMA_", "CRM_", "DBT_")

# Every spelling of a CPF: 11 digits in a row, or 3.3.3-2 with dots, dashes or spaces. Digit runs
# that are part of longer numbers (hashes, timestamps) are not CPFs: the lookarounds keep them out.
CPF_PATTERN = re.compile(r"(?<![0-9])(?:[0-9]{11}|[0-9]{3}[.\s][0-9]{3}[.\s][0-9]{3}[-.\s][0-9]{2})(?![0-9])")
# The same, as a DuckDB regular expression for scanning tables (RE2: no lookbehind, so edges by hand).
CPF_SQL_PATTERN = r"(^|[^0-9])([0-9]{11}|[0-9]{3}[. ][0-9]{3}[. ][0-9]{3}[-. ][0-9]{2})([^0-9]|$)"
UUID_SQL_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# What a committed secret looks like: OpenAI-style keys, a key assigned in an env file, bearer tokens.
KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"OPENAI_API_KEY\s*[=:]\s*[\"']?sk", re.I),
    re.compile(r"\b[Bb]earer\s+[A-Za-z0-9._~+/-]{20,}=*"),
)


def project_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment for a pipeline or dbt run whose every file lives under `tmp`.

    The database and the cache are named relative to `tmp`, where `run_dbt` and `run_pipeline` run:
    dbt's parse depends on the profile's paths, so every run then shares one (see `reused_parse`).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(_INHERITED_PREFIXES)}
    env.update(
        DBT_PROJECT_DIR=str(PROJECT),
        DBT_PROFILES_DIR=str(PROJECT),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        MARKETING_DUCKDB_PATH="marketing.duckdb",
        MARKETING_CACHE_PATH="llm_cache.duckdb",
        MARKETING_EXPORT_DIR=str(tmp / "exports"),
        CRM_PIPELINES_DIR=str(tmp / "dlt"),
        PYTHONWARNINGS="ignore::DeprecationWarning",
        # dbt writes every statement to logs/dbt.log, about 6% of a small build's time; a run that
        # reads its log asks for one (DBT_LOG_LEVEL_FILE="debug", dbt's default).
        DBT_LOG_LEVEL_FILE="none",
    )
    env.update(extra)
    return env


def copy_project(directory: Path) -> Path:
    """A copy of the dbt project in `directory`, for a test that edits its seeds or models."""
    for folder in ("macros", "seeds", "models", "data_samples", "tests/dbt"):
        shutil.copytree(PROJECT / folder, directory / folder)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT / name, directory / name)
    return directory


def run_dir(env: Mapping[str, str]) -> Path:
    """The directory a `project_env` run works in: its relative paths are relative to it."""
    return Path(env["DBT_TARGET_PATH"]).parent


def llm_env(tmp: Path, base_url: str, **extra: str) -> dict[str, str]:
    """`project_env` with the openai provider pointed at a loopback server, patient but briefly."""
    settings = {
        "MARKETING_PROVIDER": "openai",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "test-key-not-secret",
        "MARKETING_TIMEOUT_SECONDS": "2",
        "MARKETING_MAX_RETRIES": "1",
        "MARKETING_MAX_CONCURRENCY": "4",
    }
    return project_env(tmp, **{**settings, **extra})


# `dbt build` arguments that build seeds and models but run no data or unit test: for tests that
# judge a build by its rows, where the data tests already ran in another build.
NO_DATA_TESTS = ("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")


def csv_vars() -> list[str]:
    return ["--vars", "{client_source: csv}"]


def csv_env(clients_csv: Path, accounts_csv: Path, delimiter: str = ";", encoding: str = "utf-8") -> dict:
    return {
        "MARKETING_CLIENTS_CSV": str(clients_csv),
        "MARKETING_ACCOUNTS_CSV": str(accounts_csv),
        "MARKETING_CSV_DELIMITER": delimiter,
        "MARKETING_CSV_ENCODING": encoding,
    }


def run_main_job(env: dict[str, str]) -> None:
    """The main job on the CSV exports `env` names (csv_env), which must succeed."""
    result = run_pipeline(["--no-show", "--", *csv_vars()], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def copied_project_env(
    project: Path, tmp: Path, base_url: str, clients_csv: Path, accounts_csv: Path
) -> dict:
    """`llm_env` for runs of the project copy `project` on the exports, each file under `tmp`/run."""
    env = llm_env(
        tmp / "run",
        base_url,
        DBT_PROJECT_DIR=str(project),
        DBT_PROFILES_DIR=str(project),
        **csv_env(clients_csv, accounts_csv),
    )
    run_dir(env).mkdir()
    return env


def run_dbt(args: Sequence[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return _run([str(DBT)], args, env, timeout)


def run_pipeline(
    args: Sequence[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "python_udfs.pipeline"], args, env, timeout)


def _run(
    command: list[str], args: Sequence[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    with reused_parse(args, env):
        return run_forked([*command, *args], run_dir(env), env, timeout)


# -- one dbt parse for the runs that can share it -------------------------------------------------------
# A full parse of the project costs dbt about 5 s; reading a saved one (`partial_parse.msgpack`) under
# 1 s. dbt reuses a saved parse when the vars, the profile and the project files are the same, and
# parses again, by itself, whatever differs: sharing one between runs changes no result, only time.
# conftest.py names a directory for the session; without one, each run parses on its own.

_shared_parses: Path | None = None


def share_dbt_parses(directory: Path) -> None:
    global _shared_parses
    directory.mkdir(parents=True, exist_ok=True)
    _shared_parses = directory


@contextmanager
def reused_parse(args: Sequence[str], env: Mapping[str, str]) -> Iterator[None]:
    """Start a run from the parse an earlier run with the same vars saved, and save its own if none was.

    The saved parse replaces the run's own, left by its previous run: that one may be for other vars."""
    if _shared_parses is None:
        yield
        return
    vars_ = next((value for flag, value in itertools.pairwise(args) if flag == "--vars"), "")
    key = hashlib.sha256(f"{env.get('DBT_PROJECT_DIR')}\0{vars_}".encode()).hexdigest()[:16]
    shared = _shared_parses / f"{key}.msgpack"
    own = Path(env["DBT_TARGET_PATH"]) / "partial_parse.msgpack"
    if shared.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, own)
    try:
        yield
    finally:
        if own.exists() and not shared.exists():
            partial = shared.with_name(f"{shared.name}.{os.getpid()}")
            shutil.copyfile(own, partial)
            os.replace(partial, shared)  # atomic: a run on the other worker never reads half a file


# -- synthetic clients -------------------------------------------------------------------------------


def cpf_with_check_digits(base: int) -> str:
    """A valid CPF from nine base digits."""
    digits = [int(d) for d in f"{base:09d}"]
    for count in (9, 10):
        total = sum(d * (count + 1 - i) for i, d in enumerate(digits[:count]))
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


FIRST_NAMES = ("Ana", "Bruno", "Carla", "Davi", "Elisa", "Fábio", "Gabi", "Heitor", "Iara", "Jonas")
# Surnames no prompt, instruction or model answer would hold by chance: a hit is a leak.
SURNAMES = ("Zubrowska", "Quixabeira", "Vasconcellosz", "Wanderleyx", "Kalinowsky")


def write_clients(
    directory: Path, count: int, first_id: int = 7_300_001, first_base: int = 235_417_001
) -> tuple[Path, Path, list[dict]]:
    """Clean `;`-delimited clients and accounts exports with distinctive ids, surnames and balances.

    Ids start at 7,300,001 and balances end in `.37`, so a leaked id or balance cannot be mistaken
    for another number in a request body.
    """
    directory.mkdir(parents=True, exist_ok=True)
    clients = []
    for offset in range(count):
        client_id = first_id + offset
        clients.append(
            {
                "id": client_id,
                "first_name": FIRST_NAMES[offset % len(FIRST_NAMES)],
                "surname": SURNAMES[offset % len(SURNAMES)],
                "cpf": cpf_with_check_digits(first_base + offset * 7919),
                "balance": f"{48_211 + offset * 37}.37",
            }
        )
    clients_csv = directory / "clients.csv"
    accounts_csv = directory / "accounts.csv"
    lines = ["id;nome;CPF"]
    for c in clients:
        cpf = c["cpf"]
        # Half the CPFs punctuated, as real exports mix spellings.
        if c["id"] % 2:
            cpf = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
        lines.append(f"{c['id']};{c['first_name']} {c['surname']};{cpf}")
    clients_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    accounts = ["client_id;agency;account_number;balance;credit_limit;card_limit"]
    for c in clients:
        accounts.append(f"{c['id']};0001;{c['id']:08d}-1;{c['balance']};1000.00;800.00")
    accounts_csv.write_text("\n".join(accounts) + "\n", encoding="utf-8")
    return clients_csv, accounts_csv, clients


# -- scanners ----------------------------------------------------------------------------------------


def pii_findings(body: str, clients: Iterable[dict]) -> list[str]:
    """What a request body holds that it must not: a CPF in any spelling, a surname, an id, a balance."""
    found = [f"CPF-like {match!r}" for match in CPF_PATTERN.findall(body)]
    for client in clients:
        cpf = client["cpf"]
        spellings = (cpf, f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}", cpf[3:9])
        found += [f"CPF of client {client['id']}" for spelling in spellings if spelling in body]
        if client.get("surname") and re.search(rf"\b{re.escape(client['surname'])}\b", body, re.I):
            found.append(f"surname {client['surname']!r}")
        if re.search(rf"(?<![0-9]){client['id']}(?![0-9])", body):
            found.append(f"client id {client['id']}")
        if "balance" in client:
            whole = client["balance"].split(".")[0]
            if re.search(rf"(?<![0-9]){whole}(?:[.,][0-9]+)?(?![0-9])", body):
                found.append(f"balance {client['balance']}")
    return found


# The seeds are the raw demo input (synthetic CPFs, unmasked by design): not marts, not exports.
SEED_TABLES = frozenset(path.stem for path in (PROJECT / "seeds").glob("*.csv"))


def raw_cpfs_in_database(path: Path, exclude_tables: Iterable[str] = SEED_TABLES) -> dict[str, int]:
    """{schema.table.column: rows} for every text column of every table holding an unmasked CPF.

    One query per table: a `count_if` per text column. Views are skipped (staging views hold the
    CPF by design and store no data); tables, stored test failures included, are what people read.
    Hash columns (`*hash`) are hex digests, and a value shaped like a UUID (a run's id) is hex too:
    their digit runs are not CPFs (a random UUID holds 11 digits in a row about once in 250).
    """
    exclude_tables = set(exclude_tables)
    hits: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = connection.execute(
            """
            select c.database_name, c.schema_name, c.table_name, list(c.column_name order by c.column_index)
            from duckdb_columns() as c
            inner join duckdb_tables() as t using (database_name, schema_name, table_name)
            where c.database_name = current_database()
                and (c.data_type like 'VARCHAR%' or c.data_type like 'STRUCT%' or c.data_type like 'MAP%')
            group by all
            """
        ).fetchall()
        for database, schema, table, all_columns in tables:
            columns = [column for column in all_columns if not column.lower().endswith("hash")]
            if table in exclude_tables or not columns:
                continue
            checks = ", ".join(
                f"count_if(regexp_matches(cast(\"{column}\" as varchar), '{CPF_SQL_PATTERN}') and "
                f"not regexp_full_match(cast(\"{column}\" as varchar), '{UUID_SQL_PATTERN}')) "
                f'as "{column}"'
                for column in columns
            )
            counts = connection.execute(f'select {checks} from "{database}"."{schema}"."{table}"').fetchone()
            for column, count in zip(columns, counts, strict=True):
                if count:
                    hits[f"{schema}.{table}.{column}"] = count
    return hits


# A line may opt out on purpose, visibly in review (the detect-secrets convention).
ALLOWLIST_MARKER = "pragma: allowlist secret"


# The shared pipeline run's clients (conftest.py): the first CRM_CLIENTS are CRM users too, whose
# tips are pushed back.
PIPELINE_CLIENTS = 8
CRM_CLIENTS = 4


def fake_key(prefix: str = "sk-") -> str:
    """A key-shaped value built at run time, so no committed file holds one."""
    return prefix + "reliabilitycanary" + uuid.uuid4().hex


def key_like_strings(text: str) -> list[str]:
    """Every substring that looks like a committed API key or bearer token."""
    return [
        match.group(0)
        for line in text.splitlines()
        if ALLOWLIST_MARKER not in line
        for pattern in KEY_PATTERNS
        for match in pattern.finditer(line)
    ]


def files_holding(value: str, roots: Iterable[Path]) -> list[Path]:
    """Every file under `roots` whose bytes contain `value` (as UTF-8)."""
    needle = value.encode()
    hits = []
    for root in roots:
        paths = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if needle in path.read_bytes():
                hits.append(path)
    return hits
