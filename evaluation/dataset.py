"""The fixed evaluation set and the dbt build that turns it into clients, offers and messages.

`evaluation/data/clients.csv` holds 120 synthetic clients (ids 1001-1120, valid synthetic CPFs):
names with accents, compound names (Maria Eduarda, João Pedro) and unisex ones (Darcy, Ariel,
Juraci), 24 per segment through `accounts.csv`: the segment cycles with the id (1001 `sem_conta`,
no account; 1002 `sem_saldo`; 1003 `basico`; 1004 `intermediario`; 1005 `alta_renda`; 1006 again).
They go through the real pipeline as a `csv` client source, into a private database, never into
data/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_udfs.generation.prompts import MessageContext

__all__ = ["EVAL_CLIENT_IDS", "EvalRow", "build", "dbt_vars", "load_rows"]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
WORK_DIR = ROOT / "target" / "eval"
EVAL_CLIENT_IDS = tuple(range(1001, 1121))


@dataclass(frozen=True)
class EvalRow:
    """One message to write: a client of the set, a campaign and the offer SQL chose for it."""

    index: int
    client_id: int
    first_name: str
    segment: str
    campaign_id: str
    instructions: str
    max_characters: int
    offer: str | None
    product: str | None

    def context(self) -> MessageContext:
        """What the pipeline's prompt is rendered from for this row."""
        return MessageContext(
            self.campaign_id,
            self.instructions,
            self.max_characters,
            self.first_name,
            self.segment,
            offer=self.offer,
        )


def dbt_vars() -> dict:
    """The vars that point the pipeline at the evaluation set's files."""
    return {
        "client_source": "csv",
        "clients_csv_path": str(DATA / "clients.csv"),
        "accounts_csv_path": str(DATA / "accounts.csv"),
        "csv_delimiter": ",",
    }


def environment(work_dir: Path, client_ids: tuple[int, ...] = EVAL_CLIENT_IDS) -> dict[str, str]:
    """Private database and cache files (an evaluation never touches data/), one round, and only the
    set's clients (or some of them).

    The generation settings go in the environment, not in `--vars`: every build then has the same
    vars, and dbt reuses the first build's parse instead of parsing the project again."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT),
        "MARKETING_DUCKDB_PATH": str(work_dir / "marketing.duckdb"),
        "MARKETING_CACHE_PATH": str(work_dir / "llm_cache.duckdb"),
        "MARKETING_ONLY_CLIENT_IDS": ",".join(map(str, client_ids)),
        "MARKETING_ROUNDS": "1",
    }


def build(select: str, work_dir: Path = WORK_DIR, client_ids: tuple[int, ...] = EVAL_CLIENT_IDS) -> None:
    """`dbt build --select <select>` on the evaluation set; stops with dbt's output on failure."""
    import json

    work_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("dbt")),
        "build",
        "--select",
        select,
        # Only the tests of what is built, not those of models downstream of a shared parent.
        "--indirect-selection",
        "cautious",
        "--vars",
        json.dumps(dbt_vars()),
        "--target-path",
        str(work_dir / "dbt-target"),
        "--log-path",
        str(work_dir / "dbt-logs"),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=environment(work_dir, client_ids), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"dbt build --select {select} failed:\n{result.stdout[-4000:]}")


def load_rows(work_dir: Path = WORK_DIR, round_number: int = 1) -> list[EvalRow]:
    """The set's (client, campaign) rows with their offer, from a database `build` wrote."""
    database = work_dir / "marketing.duckdb"
    if not database.exists():
        build("+campaign_offers", work_dir)
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            """
            select
                c.client_id - 1001, c.client_id, c.first_name, c.segment, k.campaign_id,
                k.instructions, k.max_characters, o.offer, o.product
            from clients as c
            cross join stg_marketing__campaigns as k
            left join campaign_offers as o
                on o.client_id = c.client_id and o.campaign_id = k.campaign_id and o.round = ?
            where c.client_id between 1001 and 1120 and k.kind = 'generated' and k.is_active
            order by k.campaign_id, c.client_id
            """,
            [round_number],
        ).fetchall()
    return [EvalRow(*row) for row in rows]
