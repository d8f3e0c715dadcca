"""The original approach, re-implemented faithfully as the benchmark's baseline.

`/work/shared/reference/000_*.txt` sent one request at a time to Ollama's chat API with ONE shared
history: the system prompt, then every earlier user prompt and every earlier (cleaned) answer. The
n-th client's prompt therefore carries all n-1 earlier exchanges. This module does exactly that,
against any Ollama-compatible (`/api/chat`, the original's client) or OpenAI-compatible
(`/v1/chat/completions`) base URL, and records the prompt tokens the server reports for each call.

Deviations from the original, both only so a benchmark cannot hang or hide a failure: a finite
timeout, and no SDK retries (the original had none either: one failed call ended its loop).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import ollama
import openai

__all__ = [
    "DEFAULT_MODEL",
    "STOP_TOKEN",
    "SYSTEM_PROMPT",
    "BaselineCall",
    "BaselineRun",
    "render_history",
    "run_baseline",
    "user_prompt",
]

# Verbatim from the original, markdown emphasis included.
SYSTEM_PROMPT = (
    "Você é um marketplace amigável e criativo. Suas respostas devem ser curtas (no máximo 1 linha) e "
    "focadas em sugerir presentes de Natal. **É crucial que você evite repetir as mensagens ou ideias "
    "que já foram geradas no histórico de mensagens.**"
)
STOP_TOKEN = "\n</start_of_turn>"
DEFAULT_MODEL = "gemma3:12b-it-qat"
DEFAULT_TEMPERATURE = 0.8
TIMEOUT_SECONDS = 60.0


def user_prompt(client_name: str) -> str:
    return (
        "Crie uma nova mensagem de marketing curta, de no máximo 1 linha, "
        f"para ser enviada para o cliente {client_name}."
    )


def render_history(client_names: Iterable[str], answers: Iterable[str]) -> list[dict[str, str]]:
    """The shared history after the given exchanges: what the next call would send (before its prompt)."""
    history = [{"role": "system", "content": SYSTEM_PROMPT}]
    for name, answer in zip(client_names, answers, strict=True):
        history.append({"role": "user", "content": user_prompt(name)})
        history.append({"role": "assistant", "content": answer})
    return history


@dataclass(frozen=True)
class BaselineCall:
    client_name: str
    message: str
    prompt_tokens: int
    history_messages: int
    seconds: float


@dataclass
class BaselineRun:
    calls: list[BaselineCall] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        return len(self.calls) / self.seconds if self.seconds else 0.0

    @property
    def prompt_tokens(self) -> list[int]:
        return [call.prompt_tokens for call in self.calls]


def _ollama_chat(base_url: str, model: str, temperature: float) -> Callable[[list], tuple[str, int]]:
    client = ollama.Client(host=base_url, timeout=TIMEOUT_SECONDS)

    def chat(messages: list[dict[str, str]]) -> tuple[str, int]:
        response = client.chat(model=model, messages=messages, options={"temperature": temperature})
        return response["message"]["content"], response.get("prompt_eval_count") or 0

    return chat


def _openai_chat(base_url: str, model: str, temperature: float) -> Callable[[list], tuple[str, int]]:
    # A loopback or self-hosted server needs no key; the SDK insists on one being set.
    client = openai.OpenAI(base_url=base_url, api_key="unused", timeout=TIMEOUT_SECONDS, max_retries=0)

    def chat(messages: list[dict[str, str]]) -> tuple[str, int]:
        response = client.chat.completions.create(model=model, messages=messages, temperature=temperature)
        usage = response.usage
        return response.choices[0].message.content or "", usage.prompt_tokens if usage else 0

    return chat


def run_baseline(
    client_names: Iterable[str],
    *,
    base_url: str,
    api: str = "ollama",
    model: str = DEFAULT_MODEL,
    temperature: float = DEFAULT_TEMPERATURE,
) -> BaselineRun:
    """One message per client, one call at a time, every call carrying the whole shared history.

    `api` is "ollama" (the original's client; base_url like http://127.0.0.1:11434) or "openai"
    (base_url like http://127.0.0.1:8000/v1).
    """
    chat = {"ollama": _ollama_chat, "openai": _openai_chat}[api](base_url, model, temperature)
    history = [{"role": "system", "content": SYSTEM_PROMPT}]
    run = BaselineRun()
    run_started = time.perf_counter()
    for name in client_names:
        history.append({"role": "user", "content": user_prompt(name)})
        started = time.perf_counter()
        raw, prompt_tokens = chat(history)
        message = raw.replace(STOP_TOKEN, "").strip()
        history.append({"role": "assistant", "content": message})
        run.calls.append(
            BaselineCall(
                client_name=name,
                message=message,
                prompt_tokens=prompt_tokens,
                history_messages=len(history) - 1,
                seconds=time.perf_counter() - started,
            )
        )
    run.seconds = time.perf_counter() - run_started
    return run
