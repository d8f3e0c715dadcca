"""The generative step: plan the missing messages, ask the model for them, keep the good ones.

Modules by job: `settings` (what a run does), `planning` (the DuckDB SQL working out each round's
missing rows and their context), `rounds` (a round's rows in DuckDB, records on demand), `records`
(the typed records passed between modules), `keys` (seeds, prompt hashes, cache keys), `cache` (the
durable response cache), `replay` (a round's rows settled in bulk from stored decisions),
`execution` (engines making model calls; caching as answers arrive; fail-fast), `judging`
(cleaning, validation, duplicates, stored decisions), `generator` (the per-job waves of attempts),
`ledger` (run counts and the generation_log row), `output` (the rows' schema) and `orchestrator`
(`generate_missing` and `generate_missing_relation`, from end to end). `udf` is the same step as a
SQL function; `prompts`, `validation` and `providers` are what the model is asked, what is kept,
and who answers.
"""

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.execution import Engine, ThreadEngine, build_engine
from python_udfs.generation.orchestrator import generate_missing, generate_missing_relation
from python_udfs.generation.output import OUTPUT_SCHEMA
from python_udfs.generation.prompts import PROMPT_VERSION, MessageContext, render_prompt
from python_udfs.generation.providers import Completion, CompletionRequest, Prompt, Provider, build_provider
from python_udfs.generation.records import Call, CallResult, Campaign, Job, RoundRow
from python_udfs.generation.settings import Settings
from python_udfs.generation.udf import register_generate_text
from python_udfs.generation.validation import DuplicateGuard, clean_message, validate_message

__all__ = [
    "OUTPUT_SCHEMA",
    "PROMPT_VERSION",
    "Call",
    "CallResult",
    "Campaign",
    "Completion",
    "CompletionRequest",
    "DuplicateGuard",
    "Engine",
    "Job",
    "MessageContext",
    "Prompt",
    "Provider",
    "ResponseCache",
    "RoundRow",
    "Settings",
    "ThreadEngine",
    "build_engine",
    "build_provider",
    "clean_message",
    "generate_missing",
    "generate_missing_relation",
    "register_generate_text",
    "render_prompt",
    "validate_message",
]
