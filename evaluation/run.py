"""`make eval`: the quality benchmark on the default embedded model.

    python -m evaluation.run [--baseline-clients 120] [--skip-baseline]

1. Runs the evaluation set (120 clients x 2 campaigns, evaluation/data) through the real pipeline:
   `dbt build` of campaign_offers and marketing_messages, on a fresh private database and cache
   (target/eval), so every message is generated, validated and regenerated as in production.
2. Runs the v1 prompt (evaluation/baseline.py) on the same clients, first try only.
3. Judges both with the independent judges (evaluation/judges.py) and writes
   evaluation/results/latest.json and the measured part of docs/QUALITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from evaluation import judges
from evaluation.baseline import V1_SAMPLING, V1_TEMPERATURES, v1_prompt
from evaluation.dataset import EVAL_CLIENT_IDS, ROOT, WORK_DIR, EvalRow, build, load_rows
from evaluation.report import write_report
from python_udfs.generation.compliance import RULES
from python_udfs.generation.providers.base import CompletionRequest
from python_udfs.generation.providers.local import LocalProvider
from python_udfs.generation.validation import clean_message, validate_message

__all__ = ["Judged", "judge", "main", "run_pipeline"]

RESULTS = ROOT / "evaluation" / "results" / "latest.json"
# Reason codes the v1 validator did not have: what it would have let through.
_COMPLIANCE_CODES = frozenset({rule.code for rule in RULES} | {"unlisted_figure", "fragment"})


@dataclass(frozen=True)
class Judged:
    """One message as the judges see it."""

    client_id: int
    campaign_id: str
    first_name: str
    segment: str
    offer: str | None
    product: str | None
    message: str


def judge(messages: list[Judged]) -> dict:
    """The independent judges' figures over a list of kept messages."""
    words = unknown = 0
    violations, odd_words = [], Counter()
    for item in messages:
        found = judges.compliance_violations(item.message, item.offer)
        if found:
            violations.append({"message": item.message, "violations": found})
        total, bad = judges.non_words(item.message, (item.first_name, item.offer or ""))
        words, unknown = words + total, unknown + len(bad)
        odd_words.update(bad)
    count = max(len(messages), 1)
    offered = [item for item in messages if item.product]
    duplicates = [
        judges.duplicate_shares(
            [item.message for item in messages if item.campaign_id == campaign],
            [item.first_name for item in messages if item.campaign_id == campaign],
        )
        for campaign in sorted({item.campaign_id for item in messages})
    ]
    return {
        "judged": len(messages),
        "compliance_violations": len(violations),
        "violation_examples": violations[:10],
        "fragments": sum(judges.is_fragment(item.message) for item in messages),
        "grounded_share": (
            sum(judges.is_grounded(item.message, item.product) for item in offered) / len(offered)
            if offered
            else None
        ),
        "non_word_share": unknown / max(words, 1),
        "non_words": dict(odd_words.most_common(15)),
        "portuguese_share": sum(judges.is_portuguese(item.message) for item in messages) / count,
        "exact_duplicate_share": _mean([d.exact for d in duplicates]),
        "near_duplicate_share": _mean([d.near for d in duplicates]),
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def run_pipeline(work_dir: Path, client_ids: tuple[int, ...] = EVAL_CLIENT_IDS) -> dict:
    """The set through `dbt build` from scratch; what it kept, rejected, and how fast."""
    shutil.rmtree(work_dir, ignore_errors=True)
    build("+campaign_offers", work_dir)  # seeds and clients first: not part of the timing
    started = time.perf_counter()
    build("marketing_messages", work_dir, client_ids)
    build_seconds = time.perf_counter() - started
    rows, reasons, (seconds, calls) = _read_results(work_dir)
    ok = [Judged(*row[:7]) for row in rows if row[7] == "ok"]
    total = max(len(rows), 1)
    return {
        "messages": len(rows),
        "providers": sorted({row[10] for row in rows}),
        "not_ok": [
            {"client_id": row[0], "status": row[7], "reason": row[8]} for row in rows if row[7] != "ok"
        ],
        "first_try_ok_share": sum(row[7] == "ok" and row[9] == 1 for row in rows) / total,
        "final_ok_share": len(ok) / total,
        "rejection_reasons": dict(reasons),
        "model_calls": calls,
        "generation_seconds": seconds,
        "dbt_build_seconds": build_seconds,
        "seconds_per_message": (seconds or 0) / total,
        "messages_per_second": total / seconds if seconds else None,
        **judge(ok),
        "samples": [item.message for item in ok[:: max(len(ok) // 20, 1)]][:20],
        "ok_messages": [
            {"client_id": item.client_id, "offer": item.offer, "message": item.message} for item in ok
        ],
    }


def _read_results(work_dir: Path) -> tuple[list[tuple], list[tuple], tuple]:
    """The set's rows of marketing_messages with their offers, rejection reasons, and the ledger."""
    with duckdb.connect(str(work_dir / "marketing.duckdb"), read_only=True) as connection:
        connection.execute(f"attach '{work_dir / 'llm_cache.duckdb'}' as llm_cache (read_only)")
        rows = connection.execute(
            """
            select m.client_id, m.campaign_id, c.first_name, c.segment, o.offer, o.product,
                m.message, m.status, m.error_reason, m.attempts, m.provider
            from marketing_messages as m
            inner join clients as c using (client_id)
            left join campaign_offers as o using (client_id, campaign_id, round)
            where m.client_id between 1001 and 1120
            order by m.campaign_id, m.client_id
            """
        ).fetchall()
        reasons = connection.execute(
            "select split_part(reason, ':', 1), count(*) from llm_cache.main.decisions "
            "where status = 'rejected' group by all order by 2 desc"
        ).fetchall()
        ledger = connection.execute(
            "select sum(seconds), sum(model_calls) from llm_cache.main.generation_log"
        ).fetchone()
    return rows, reasons, ledger


def run_baseline(rows: list[EvalRow]) -> dict:
    """The v1 prompt on the same rows, one try each, judged the same way."""
    provider = LocalProvider(sampling=V1_SAMPLING)
    kept_before, kept_now, reasons = [], 0, Counter()
    started = time.perf_counter()
    for index, row in enumerate(rows):
        prompt = v1_prompt(row.campaign_id, row.first_name, row.segment, variant=index)
        request = CompletionRequest(prompt, V1_TEMPERATURES[row.campaign_id], max_tokens=80, seed=index)
        message = clean_message(provider.complete(request).text)
        reason = validate_message(message, row.first_name, row.max_characters)
        code = reason.split(":")[0] if reason else None
        if code:
            reasons[code] += 1
        kept_now += code is None
        if code is None or code in _COMPLIANCE_CODES:
            kept_before.append(
                Judged(row.client_id, row.campaign_id, row.first_name, row.segment, None, None, message)
            )
    seconds = time.perf_counter() - started
    total = max(len(rows), 1)
    return {
        "messages": len(rows),
        "v1_rules_kept_share": len(kept_before) / total,
        "current_rules_first_try_ok_share": kept_now / total,
        "rejection_reasons_current_rules": dict(reasons.most_common()),
        "seconds_per_message": seconds / total,
        **judge(kept_before),
        "samples": [item.message for item in kept_before[:: max(len(kept_before) // 10, 1)]][:10],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-clients", type=int, default=120)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)
    conditions = {"cores": len(os.sched_getaffinity(0)), "load_average_before": os.getloadavg()}
    pipeline = run_pipeline(WORK_DIR)
    print(f"pipeline: {pipeline['final_ok_share']:.1%} ok, {pipeline['seconds_per_message']:.2f} s/message")
    rows = [row for row in load_rows(WORK_DIR) if row.index < args.baseline_clients]
    baseline = None if args.skip_baseline else run_baseline(rows)
    conditions["load_average_after"] = os.getloadavg()
    results = {"conditions": conditions, "pipeline": pipeline, "baseline_v1": baseline}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    write_report(results, ROOT / "docs" / "QUALITY.md")
    print(f"wrote {RESULTS.relative_to(ROOT)} and docs/QUALITY.md")


if __name__ == "__main__":
    main()
