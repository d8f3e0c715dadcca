"""The generative step: settings, providers, prompts, validation, cache and the concurrent runner."""

from python_udfs.generation.cache import ResponseCache
from python_udfs.generation.prompts import PROMPT_VERSION, MessageContext, render_prompt
from python_udfs.generation.providers import Completion, CompletionRequest, Prompt, Provider, build_provider
from python_udfs.generation.runner import OUTPUT_SCHEMA, generate_missing
from python_udfs.generation.settings import Settings
from python_udfs.generation.udf import register_generate_text
from python_udfs.generation.validation import DuplicateGuard, clean_message, validate_message

__all__ = [
    "OUTPUT_SCHEMA",
    "PROMPT_VERSION",
    "Completion",
    "CompletionRequest",
    "DuplicateGuard",
    "MessageContext",
    "Prompt",
    "Provider",
    "ResponseCache",
    "Settings",
    "build_provider",
    "clean_message",
    "generate_missing",
    "register_generate_text",
    "render_prompt",
    "validate_message",
]
