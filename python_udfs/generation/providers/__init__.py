"""Providers behind one interface; `build_provider` picks one from the settings."""

from __future__ import annotations

from python_udfs.generation.providers.base import Completion, CompletionRequest, Prompt, Provider
from python_udfs.generation.settings import DEFAULT_MODELS, Settings

__all__ = ["Completion", "CompletionRequest", "Prompt", "Provider", "build_provider"]


def build_provider(settings: Settings) -> Provider:
    # Imported on demand: llama.cpp and the HTTP SDKs are slow to import and each run needs one.
    if settings.provider == "local":
        from python_udfs.generation.providers.local import LocalProvider

        return LocalProvider(settings.model or settings.gguf_path)
    if settings.provider == "ollama":
        from python_udfs.generation.providers.ollama import OllamaProvider

        return OllamaProvider(
            settings.model or DEFAULT_MODELS["ollama"],
            settings.ollama_host,
            settings.timeout_seconds,
            settings.max_retries,
        )
    from python_udfs.generation.providers.openai import OpenAIProvider

    return OpenAIProvider(
        settings.model or DEFAULT_MODELS["openai"],
        settings.base_url,
        settings.timeout_seconds,
        settings.max_retries,
    )
