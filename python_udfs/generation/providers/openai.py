"""OpenAI's chat completions, or any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama's /v1)."""

from __future__ import annotations

import os
import time

import openai

from python_udfs.errors import GenerationError, ProviderUnavailable, RateLimited
from python_udfs.generation.providers.base import Completion, CompletionRequest, RequestCounter

__all__ = ["OpenAIProvider"]


class OpenAIProvider:
    name = "openai"
    style = "chat"
    max_parallel = None

    def __init__(self, model: str, base_url: str | None, timeout: float, max_retries: int) -> None:
        self.model = model
        # The key comes from the environment only, and lives only inside the SDK client.
        api_key = os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if base_url is None:
                raise ProviderUnavailable(
                    "provider 'openai' needs OPENAI_API_KEY in the environment "
                    "(or OPENAI_BASE_URL pointing at a server that needs no key)",
                    reason="no_api_key",
                )
            api_key = "unused"  # the SDK insists on one; local servers ignore it
        # The SDK's own retries (exponential backoff with jitter, Retry-After honoured) are the only
        # retry layer; its defaults (2 retries, 10 minutes) are replaced by explicit settings. They
        # happen inside the SDK, so the HTTP client counts every request it sends: the run ledger
        # records the retries (`http_retries`) beside the calls.
        self.request_counter = RequestCounter()
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=openai.DefaultHttpxClient(
                timeout=timeout, event_hooks={"request": [self.request_counter]}
            ),
        )

    def complete(self, request: CompletionRequest) -> Completion:
        prompt = request.prompt
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
            )
        except openai.RateLimitError as error:
            retry_after = error.response.headers.get("retry-after")
            raise RateLimited(
                "the server kept answering 429 Too Many Requests",
                retry_after=float(retry_after)
                if retry_after and retry_after.replace(".", "").isdigit()
                else None,
            ) from None
        except openai.APITimeoutError:
            raise ProviderUnavailable("the server did not answer in time", reason="timeout") from None
        except openai.APIConnectionError as error:
            raise ProviderUnavailable(f"cannot reach the server: {error}", reason="connection") from None
        except openai.InternalServerError as error:
            raise ProviderUnavailable(
                f"the server failed ({error.status_code})", reason="server_error"
            ) from None
        except openai.AuthenticationError:
            # Never echo the server's text: some servers repeat the key they were sent.
            raise ProviderUnavailable("the server rejected the API key", reason="authentication") from None
        except openai.APIStatusError as error:
            raise GenerationError(
                f"the server refused the request ({error.status_code})", reason="http_error"
            ) from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise GenerationError(
                f"unreadable answer: {type(error).__name__}", reason="bad_response"
            ) from None
        if not response.choices:
            raise GenerationError("the answer had no choices", reason="bad_response")
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
