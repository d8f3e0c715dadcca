"""Model calls on a Ray cluster: the calls go out as arrow blocks to a pool of Ray actors.

`generation_engine: ray` selects it. Only what the engine protocol covers moves to Ray: the calls a
wave still needs (already planned, cache misses only) go out as arrow blocks to a pool of stateful
actors. Each actor builds the configured provider once (an HTTP client for a vLLM fleet or any
OpenAI-compatible endpoint, or the embedded llama.cpp model, loaded once per actor) and answers a
block with its share of the calls in flight (through the in-process engine `auto` picks: asyncio
for HTTP providers); the answers stream back to the driver as each block finishes. Caching,
validation, regeneration and the ledger stay on the driver (`execution.Executor`, `generator`): the
driver alone writes the cache, so DuckDB's one writer process per file holds, and a crash loses
only the calls in flight, as with the thread engine.

The pool is Ray Core actors started with the engine and kept for every wave, not a Ray Data
`map_batches` pool: Ray Data builds a new pool for each dataset, and each wave (a regeneration wave
of three calls too) paid 5 to 8 s of actor start-up on a 2-core machine. Ray restarts an actor
that dies (a killed worker, a lost node) and runs its unfinished blocks again on the new one: the
calls of the block it was answering (and of one it had just answered, if the reply had not reached
the driver) are sent twice, answered once. `ray.init` joins the cluster
`RAY_ADDRESS` names, else starts a local one on this machine's cores.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

from python_udfs.errors import GenerationError, InvalidMessage, ProviderUnavailable, RateLimited
from python_udfs.generation.execution import build_engine
from python_udfs.generation.providers import Completion, CompletionRequest, Prompt, Provider, build_provider
from python_udfs.generation.records import Call, CallResult
from python_udfs.generation.settings import Settings

__all__ = ["ProviderActor", "RayEngine"]

# Blocks an actor answers per round trip are this many times its calls in flight: big enough that
# Ray's per-block cost stays small beside 50 ms calls, small enough that answers stream back often.
_BLOCK_PER_THREAD = 4
# Blocks handed to an actor at once: one it answers, one queued behind it.
_BLOCKS_PER_ACTOR = 2
# An actor making HTTP calls mostly waits: it reserves a quarter of a CPU, so a 2-core laptop runs
# four. An actor running the model in process reserves a whole one (llama.cpp keeps it busy).
_HTTP_ACTOR_CPUS = 0.25
_MODEL_ACTOR_CPUS = 1.0

_CALLS_SCHEMA = pa.schema(
    [
        ("tag", pa.int64()),
        ("system", pa.string()),
        ("user", pa.string()),
        ("completion", pa.string()),
        ("answer_prefix", pa.string()),
        ("temperature", pa.float64()),
        ("max_tokens", pa.int64()),
        ("seed", pa.int64()),
    ]
)
_RESULTS_SCHEMA = pa.schema(
    [
        ("tag", pa.int64()),
        ("text", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_ms", pa.float64()),
        # A failed call: the error's class, reason and message cross the process boundary as data
        # (exceptions with their own constructors do not unpickle reliably).
        ("error_kind", pa.string()),
        ("error_reason", pa.string()),
        ("error_message", pa.string()),
        ("retry_after", pa.float64()),
        ("http_requests", pa.int64()),
    ]
)
_ERROR_KINDS: dict[str, type[GenerationError]] = {
    kind.__name__: kind for kind in (GenerationError, InvalidMessage, ProviderUnavailable)
}


class RayEngine:
    """Calls on a Ray actor pool: `actors` actors, each with its own provider and a few calls in flight."""

    def __init__(
        self,
        settings: Settings,
        provider: Provider,
        actors: int | None = None,
        provider_factory: Callable[[], Provider] | None = None,
    ) -> None:
        self._started_ray = _start_ray()
        http = provider.request_counter is not None
        actor_cpus = _HTTP_ACTOR_CPUS if http else _MODEL_ACTOR_CPUS
        self.actors = max(1, actors or settings.ray_actors)
        if self._started_ray:
            # A local cluster cannot grow: an actor it cannot place would leave its blocks waiting
            # for ever. A cluster joined by address may autoscale: it gets what was asked.
            self.actors = _actors_that_fit(self.actors, actor_cpus)
        # Each actor has a provider of its own: an in-process model caps each one, not the pool.
        if provider.max_parallel is not None:
            self._threads = provider.max_parallel
        else:
            self._threads = max(1, -(-settings.max_concurrency // self.actors))
        self.concurrency = self._threads * self.actors
        self._block_size = self._threads * _BLOCK_PER_THREAD
        rate = settings.requests_per_minute
        # What each actor runs: the in-process engine `auto` picks, with the actor's share of the
        # calls in flight and of the request rate.
        actor_settings = dataclasses.replace(
            settings,
            engine="auto",
            max_concurrency=self._threads,
            requests_per_minute=max(1, rate // self.actors) if rate else None,
        )
        factory = provider_factory or functools.partial(build_provider, settings)
        # Started now, so their processes boot while the driver plans the first wave; they live
        # until `close`, so a regeneration wave pays no start-up. Ray restarts an actor that dies
        # and runs its unfinished blocks again on the new one.
        remote = _remote_actor_class().options(num_cpus=actor_cpus, max_restarts=-1, max_task_retries=-1)
        self._pool = [remote.remote(factory, actor_settings) for _ in range(self.actors)]

    def run(self, calls: Iterable[Call]) -> Iterator[CallResult]:
        import ray

        by_tag = {call.tag: call for call in calls}
        if not by_tag:
            return
        # A small wave (a regeneration) is spread over every actor rather than handed to one.
        size = min(self._block_size, -(-len(by_tag) // self.actors))
        blocks = iter(_call_blocks(list(by_tag.values()), size))
        pending: dict[ray.ObjectRef, object] = {}

        def hand_next_block(actor) -> None:
            block = next(blocks, None)
            if block is not None:
                pending[actor.answer.remote(block)] = actor

        # Each actor holds a block to answer and one queued behind it: it never waits on the driver.
        for actor in self._pool * _BLOCKS_PER_ACTOR:
            hand_next_block(actor)
        try:
            while pending:
                (done,), _ = ray.wait(list(pending), num_returns=1)
                hand_next_block(pending.pop(done))
                # Blocks come back as each finishes, in any order: the caller caches each answer.
                yield from _call_results(ray.get(done), by_tag)
        finally:
            # A caller that stops early (a failed run) leaves no block queued on the actors.
            for ref in pending:
                ray.cancel(ref)

    def close(self, cancel: bool = False) -> None:
        import ray

        if ray.is_initialized():
            for actor in self._pool:
                ray.kill(actor)
        self._pool = []
        # A cluster this engine started goes too.
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


class ProviderActor:
    """One actor of the pool: its provider is built once, then answers block after block."""

    def __init__(self, provider_factory: Callable[[], Provider], settings: Settings) -> None:
        # The in-process engine makes the calls: the same error handling and request counting.
        self._engine = build_engine(settings, provider_factory())

    def answer(self, block: pa.Table) -> pa.Table:
        return _results_table(list(self._engine.run(_calls(block))))


@functools.cache
def _remote_actor_class():
    import ray

    return ray.remote(ProviderActor)


def _start_ray() -> bool:
    """Join or start a cluster unless this process already has one; True when it started one."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(include_dashboard=False, log_to_driver=False)
    return True


def _actors_that_fit(wanted: int, actor_cpus: float) -> int:
    """At most as many actors as the cluster's CPUs hold."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 1.0)
    return max(1, min(wanted, int(cpus / actor_cpus)))


def _call_blocks(calls: list[Call], size: int) -> list[pa.Table]:
    """The calls as arrow blocks of `size` calls: Ray hands blocks, not rows, to the actors."""
    prompts = [call.request.prompt for call in calls]
    table = pa.table(
        {
            "tag": [call.tag for call in calls],
            "system": [prompt.system for prompt in prompts],
            "user": [prompt.user for prompt in prompts],
            "completion": [prompt.completion for prompt in prompts],
            "answer_prefix": [prompt.answer_prefix for prompt in prompts],
            "temperature": [call.request.temperature for call in calls],
            "max_tokens": [call.request.max_tokens for call in calls],
            "seed": [call.request.seed for call in calls],
        },
        schema=_CALLS_SCHEMA,
    )
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]


def _calls(block: pa.Table) -> list[Call]:
    """The actor's side of `_call_blocks`: requests rebuilt from the columns (keys stay on the driver)."""
    calls = []
    for row in block.to_pylist():
        prompt = Prompt(row["system"], row["user"], row["completion"], row["answer_prefix"])
        request = CompletionRequest(prompt, row["temperature"], row["max_tokens"], row["seed"])
        calls.append(Call(row["tag"], request, key="", prompt_hash=""))
    return calls


def _results_table(results: list[CallResult]) -> pa.Table:
    rows = []
    for result in results:
        answer = result.answer
        row: dict[str, object] = {"tag": result.call.tag, "http_requests": result.http_requests}
        if isinstance(answer, GenerationError):
            row["error_kind"] = type(answer).__name__
            row["error_reason"] = answer.reason
            row["error_message"] = str(answer)
            row["retry_after"] = getattr(answer, "retry_after", None)
        else:
            row["text"] = answer.text
            row["prompt_tokens"] = answer.prompt_tokens
            row["completion_tokens"] = answer.completion_tokens
            row["latency_ms"] = answer.latency_ms
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=_RESULTS_SCHEMA)


def _call_results(block: pa.Table, by_tag: dict[int, Call]) -> Iterator[CallResult]:
    """The driver's side of `_results_table`: each row back as the CallResult of its own call."""
    for row in block.to_pylist():
        call = by_tag[row["tag"]]
        if row["error_kind"] is None:
            answer: Completion | GenerationError = Completion(
                row["text"], row["prompt_tokens"], row["completion_tokens"], row["latency_ms"]
            )
        elif row["error_kind"] == RateLimited.__name__:
            answer = RateLimited(row["error_message"], retry_after=row["retry_after"])
        else:
            kind = _ERROR_KINDS.get(row["error_kind"], GenerationError)
            answer = kind(row["error_message"], reason=row["error_reason"])
        yield CallResult(call, answer, row["http_requests"])
