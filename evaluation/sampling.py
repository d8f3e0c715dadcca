"""The sampling grid: which temperature and llama.cpp knobs the embedded model writes best with.

    python -m evaluation.sampling [--clients 30]

Each configuration writes one first-try message per (client, campaign) of the evaluation set, with
the pipeline's prompts and validator, and is scored on what a marketer cares about: the share the
validator accepts, the share an independent judge still flags, non-words and seconds per call.
The defaults in python_udfs/generation/providers/local.py and the campaigns' temperatures in
seeds/campaigns.csv come from this table (docs/QUALITY.md).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation import judges
from evaluation.dataset import EvalRow, load_rows
from python_udfs.generation.prompts import render_prompt
from python_udfs.generation.providers.base import CompletionRequest
from python_udfs.generation.providers.local import LocalProvider, Sampling
from python_udfs.generation.validation import clean_message, validate_message

__all__ = ["GRID", "GridResult", "SamplingConfig", "run_config"]


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    sampling: Sampling


GRID = (
    SamplingConfig(0.8, Sampling(top_p=1.0, top_k=0, min_p=0.0, repeat_penalty=1.0)),
    SamplingConfig(0.7, Sampling()),
    SamplingConfig(0.5, Sampling()),
    SamplingConfig(0.3, Sampling()),
    SamplingConfig(0.3, Sampling(repeat_penalty=1.0)),
    SamplingConfig(0.3, Sampling(top_p=0.8, top_k=20, repeat_penalty=1.2)),
    SamplingConfig(0.1, Sampling()),
)


@dataclass(frozen=True)
class GridResult:
    config: SamplingConfig
    messages: int
    accepted_share: float
    flagged_among_accepted: float
    non_word_share: float
    near_duplicate_share: float
    seconds_per_call: float
    rejections: dict[str, int]


def run_config(config: SamplingConfig, rows: list[EvalRow], provider: LocalProvider) -> GridResult:
    """One first-try message per row under `config`, judged."""
    provider.sampling = config.sampling
    accepted = flagged = words = unknown = 0
    rejections: dict[str, int] = {}
    kept: dict[str, list[tuple[str, str]]] = {}
    started = time.perf_counter()
    for index, row in enumerate(rows):
        prompt = render_prompt(row.context(), provider.style)
        request = CompletionRequest(prompt, config.temperature, max_tokens=80, seed=index)
        message = clean_message(provider.complete(request).text)
        reason = validate_message(message, row.first_name, row.max_characters, row.offer)
        if reason is not None:
            code = reason.split(":")[0]
            rejections[code] = rejections.get(code, 0) + 1
            continue
        accepted += 1
        kept.setdefault(row.campaign_id, []).append((message, row.first_name))
        flagged += bool(judges.compliance_violations(message, row.offer))
        total, bad = judges.non_words(message, (row.first_name, row.offer or ""))
        words, unknown = words + total, unknown + len(bad)
    seconds = time.perf_counter() - started
    near = [judges.duplicate_shares(*zip(*pairs, strict=True)).near for pairs in kept.values()]
    return GridResult(
        config=config,
        messages=len(rows),
        accepted_share=accepted / len(rows),
        flagged_among_accepted=flagged / max(accepted, 1),
        non_word_share=unknown / max(words, 1),
        near_duplicate_share=sum(near) / max(len(near), 1),
        seconds_per_call=seconds / len(rows),
        rejections=dict(sorted(rejections.items(), key=lambda item: -item[1])),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30, help="clients per configuration (x2 campaigns)")
    parser.add_argument("--output", default="evaluation/results/sampling.json")
    args = parser.parse_args(argv)
    rows = [row for row in load_rows() if row.index < args.clients]
    provider = LocalProvider()
    results = []
    for config in GRID:
        result = run_config(config, rows, provider)
        results.append(result)
        print(
            f"T={config.temperature} {config.sampling}: accepted {result.accepted_share:.0%}, "
            f"flagged {result.flagged_among_accepted:.0%}, non-words {result.non_word_share:.1%}, "
            f"near duplicates {result.near_duplicate_share:.0%}, "
            f"{result.seconds_per_call:.2f} s/call, {result.rejections}",
            flush=True,
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
