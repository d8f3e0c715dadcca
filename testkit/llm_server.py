"""A fake language-model server on loopback: OpenAI chat/completions and Ollama /api/chat.

For tests and benchmarks only, never used by the pipeline. It answers short Portuguese messages
that pass validation and address the name found in the prompt, each one different (the n-th answer
picks its words from slots of coprime sizes, so no two of the first 600,000 repeat and consecutive
ones differ everywhere). It can wait a fixed latency per request, serve at most `concurrency`
requests at once (the rest wait), count requests and prompt tokens, keep every request body (for
PII checks) and fail a share of requests in chosen ways (`FAULTS`).

    with LLMServer(latency_ms=50, concurrency=16) as server:
        ... OPENAI_BASE_URL=server.openai_url, OLLAMA_HOST=server.url ...
        assert server.requests == 6

`ServerProcess` runs the same server in a process of its own (what the benchmarks measure against:
a server in the client's process competes with it for the GIL), its counters read over HTTP:

    with ServerProcess(latency_ms=50, concurrency=16) as server:
        ... server.requests, server.prompt_tokens ...

    python -m testkit.llm_server --latency-ms 50 --concurrency 16 --port 8765
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler

from testkit.loopback import LoopbackHTTPServer

__all__ = ["FAULTS", "LLMServer", "ServerProcess"]

FAULTS = (
    "429",  # Too Many Requests without Retry-After
    "429_retry_after",  # with Retry-After
    "500",
    "503",
    "hang",  # no answer until `hang_seconds` (past the client's timeout)
    "drop",  # connection closed without an answer
    "malformed",  # 200 with a body that is not JSON
    "empty",  # 200 with empty content
    "english",  # a message in the wrong language
    "url",  # a message with a link
)

# No idea of the few-shot examples (prompts.FEW_SHOT_EXAMPLES: craft beers, an aroma diffuser...):
# an answer too close to one is rejected as copied and asked again, which no benchmark should pay.
_IDEAS = (
    "um jogo de tabuleiro",
    "um álbum de fotos",
    "um relógio inteligente",
    "uma cesta de chocolates finos",
    "um livro de receitas",
    "uma caneca térmica",
    "um fone sem fio",
    "uma planta ornamental",
    "um vinho tinto",
    "uma manta de lã",
    "um perfume floral",
    "uma luminária de mesa",
    "um quebra-cabeça",
    "uma mochila de viagem",
    "um jogo de panelas",
    "uma bola de futebol",
    "um tênis de corrida",
    "um kit de jardinagem",
    "uma câmera instantânea",
    "um curso de culinária",
    "um par de chinelos",
    "uma garrafa de azeite",
    "um tabuleiro de xadrez",
    "uma caixa de som portátil",
    "um kit de pintura",
    "um colar de prata",
    "um cachecol colorido",
    "uma assinatura de streaming",
    "uma cafeteira italiana",
)
_QUALITIES = (
    "especial",
    "elegante",
    "divertido",
    "charmoso",
    "prático",
    "criativo",
    "aconchegante",
    "moderno",
    "clássico",
    "sofisticado",
    "original",
    "delicado",
    "resistente",
    "colorido",
    "artesanal",
    "exclusivo",
    "leve",
    "bonito",
    "simpático",
    "caprichado",
    "inesquecível",
    "único",
    "caseiro",
)
_OCCASIONS = (
    "para a ceia de Natal",
    "para relaxar nas férias",
    "para a família toda",
    "para o amigo secreto",
    "para começar bem o ano",
    "para a noite de Natal",
    "para curtir em casa",
    "para presentear a mãe",
    "para surpreender o pai",
    "para os dias de calor",
    "para a viagem de fim de ano",
    "para a troca de presentes",
    "para quem ama cozinhar",
    "para os fins de semana",
    "para enfeitar a casa",
    "para o réveillon",
    "para a criançada",
)
_FORMATS = (
    "{name}, que tal {idea} {quality} {occasion}?",
    "{name}, {idea} {quality} {occasion} pode ser o presente perfeito!",
    "{name}, surpreenda com {idea} {quality} {occasion}!",
    "{name}, já pensou em {idea} {quality} {occasion}?",
    "{name}, nossa dica é {idea} {quality} {occasion}.",
)


_CODAS = (
    "",
    " Confira!",
    " Pense nisso!",
    " Olha só!",
    " Vale muito!",
    " Veja já!",
    " Topa?",
    " Demais!",
    " Capriche!",
    " Escolha já!",
    " Combinado?",
)
DISTINCT_MESSAGES = len(_FORMATS) * len(_IDEAS) * len(_QUALITIES) * len(_OCCASIONS) * len(_CODAS)


def portuguese_message(name: str, n: int) -> str:
    """The n-th distinct message: slot sizes 5, 29, 23, 17 and 11 are coprime, so the first
    DISTINCT_MESSAGES (623,645) never repeat."""
    return (
        _FORMATS[n % len(_FORMATS)].format(
            name=name,
            idea=_IDEAS[n % len(_IDEAS)],
            quality=_QUALITIES[n % len(_QUALITIES)],
            occasion=_OCCASIONS[n % len(_OCCASIONS)],
        )
        + _CODAS[n % len(_CODAS)]
    )


def _name_in(prompt: str) -> str:
    """The client's name as the project's prompts carry it: «name» in chat, `- name,` in completions."""
    delimited = re.search(r"«([^»]*)»", prompt)
    if delimited:
        return delimited.group(1)
    last_line = prompt.rstrip().splitlines()[-1] if prompt.strip() else ""
    match = re.search(r"-\s*(?:\[[^\]]*\]\s*)?([^,]+),\s*$", last_line)
    return match.group(1).strip() if match else "Cliente"


class LLMServer:
    def __init__(
        self,
        latency_ms: float = 0.0,
        concurrency: int = 16,
        fault_share: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        hang_seconds: float = 5.0,
        retry_after: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        self.latency_ms = latency_ms
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.set_faults(fault_share, faults)
        self.requests = 0
        self.answered = 0
        self.prompt_tokens = 0
        self.bodies: list[str] = []
        self.faults_served: dict[str, int] = {}
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._httpd = LoopbackHTTPServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------------
    def set_faults(self, share: float, faults: tuple[str, ...] = FAULTS) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        self.fault_share, self.faults = share, tuple(faults)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> LLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        """The counters, as `GET /stats` serves them."""
        with self._lock:
            return {"requests": self.requests, "answered": self.answered, "prompt_tokens": self.prompt_tokens}

    # -- serving -----------------------------------------------------------------------------------
    def _admit(self, body: str, prompt: str) -> tuple[str | None, int]:
        """Count the request and decide its fault; returns (fault or None, answer number)."""
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            self.prompt_tokens += len(prompt.split())
            fault = None
            if self.faults and self._random.random() < self.fault_share:
                fault = self._random.choice(self.faults)
                self.faults_served[fault] = self.faults_served.get(fault, 0) + 1
            else:
                self.answered += 1
            return fault, self.requests

    def _content(self, fault: str | None, name: str, n: int) -> str:
        if fault == "empty":
            return ""
        if fault == "english":
            return f"{name}, check out our amazing Christmas deals for you and your family today!"
        if fault == "url":
            return f"{name}, veja nossas ofertas de Natal em http://promo.example.com/natal agora!"
        return portuguese_message(name, n)


class ServerProcess:
    """An `LLMServer` in a child process (`python -m testkit.llm_server`); counters over HTTP."""

    def __init__(self, latency_ms: float = 0.0, concurrency: int = 16) -> None:
        self.latency_ms, self.concurrency = latency_ms, concurrency
        self._process: subprocess.Popen | None = None
        self.url = ""

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> int:
        return self.stats()["requests"]

    @property
    def prompt_tokens(self) -> int:
        return self.stats()["prompt_tokens"]

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return json.loads(response.read())

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "testkit.llm_server", "--port", "0"]
        command += ["--latency-ms", str(self.latency_ms), "--concurrency", str(self.concurrency)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        banner = self._process.stdout.readline() if self._process.stdout else ""
        match = re.search(r"serving on (http://\S+)", banner)
        if not match:
            self.stop()
            raise RuntimeError(f"the LLM server process did not start: {banner!r}")
        self.url = match.group(1)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout:
                self._process.stdout.close()
            self._process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _handler_for(server: LLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: headers and body go out as two writes, and with Nagle's algorithm the second
        # waits for the client's delayed ACK (about 40 ms): every answer would arrive 40 ms late.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet: tests and benchmarks read the counters
            pass

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._json(200, server.stats())
            elif self.path.rstrip("/") in ("/v1/models", "/api/tags"):
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}], "models": []})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8", "replace")
            try:
                body = json.loads(raw or "{}")
            except json.JSONDecodeError:
                self._json(400, {"error": "body is not JSON"})
                return
            if self.path == "/v1/chat/completions":
                prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                user = next(
                    (m["content"] for m in body.get("messages", []) if m.get("role") == "user"), prompt
                )
                name = _name_in(user)
            elif self.path == "/v1/completions":
                prompt = str(body.get("prompt", ""))
                name = _name_in(prompt)
            elif self.path == "/api/chat":
                prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                user = next(
                    (m["content"] for m in body.get("messages", []) if m.get("role") == "user"), prompt
                )
                name = _name_in(user)
            else:
                self._json(404, {"error": f"unknown path {self.path}"})
                return
            fault, n = server._admit(raw, prompt)
            with server._slots:
                if server.latency_ms:
                    time.sleep(server.latency_ms / 1000)
                if self._fault_response(fault):
                    return
                content = server._content(fault, name, n)
            prompt_tokens, completion_tokens = len(prompt.split()), len(content.split())
            if self.path == "/api/chat":
                self._json(
                    200,
                    {
                        "model": body.get("model", "fake"),
                        "created_at": "2024-12-01T00:00:00Z",
                        "message": {"role": "assistant", "content": content},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": prompt_tokens,
                        "eval_count": completion_tokens,
                    },
                )
                return
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            if self.path == "/v1/completions":
                choice = {
                    "index": 0,
                    "text": content[len(name) + 1 :],
                    "finish_reason": "stop",
                    "logprobs": None,
                }
                kind = "text_completion"
            else:
                choice = {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
                kind = "chat.completion"
            self._json(
                200,
                {
                    "id": f"fake-{n}",
                    "object": kind,
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [choice],
                    "usage": usage,
                },
            )

        def _fault_response(self, fault: str | None) -> bool:
            if fault in ("429", "429_retry_after"):
                headers = {"Retry-After": str(server.retry_after)} if fault == "429_retry_after" else {}
                self._json(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
            elif fault in ("500", "503"):
                self._json(int(fault), {"error": {"message": "server error", "type": "server_error"}})
            elif fault == "hang":
                time.sleep(server.hang_seconds)
                self.close_connection = True
            elif fault == "drop":
                self.close_connection = True
            elif fault == "malformed":
                self._send(200, b'{"choices": [ {"message": ', {"Content-Type": "application/json"})
            else:
                return False
            return True

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self._send(status, data, {"Content-Type": "application/json", **(headers or {})})

        def _send(self, status: int, data: bytes, headers: dict) -> None:
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): nothing to tell it

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-share", type=float, default=0.0)
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help="comma-separated, from: " + ", ".join(FAULTS)
    )
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    args = parser.parse_args()
    server = LLMServer(
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        fault_share=args.fault_share,
        faults=tuple(f for f in args.faults.split(",") if f),
        hang_seconds=args.hang_seconds,
        host=args.host,
        port=args.port,
    )
    print(f"serving on {server.url} (OpenAI base URL {server.openai_url}); Ctrl-C stops", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
        print(f"{server.requests} requests, {server.prompt_tokens} prompt tokens", flush=True)


if __name__ == "__main__":
    main()
