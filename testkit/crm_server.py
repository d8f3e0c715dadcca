"""A loopback stand-in for the Santander Dev Week 2023 CRM API: `GET` and `PUT /users/{id}`.

    with CrmServer(users=[dev_week_user(1, "João")], token="secret") as crm:
        ...  # point the pipeline at crm.url; read crm.requests and crm.users afterwards

A real threaded HTTP server on 127.0.0.1 (port chosen by the OS), an in-memory store seeded from
the given records, a Bearer-token check, a log of every request, and fault modes:

- down: `CrmServer.unreachable_url()` is an address nothing listens on (connection refused);
- slow: every answer waits `delay_seconds`;
- faults: `fault(request)` names the status a request gets instead of its answer, or None; e.g.
  `lambda r: 500 if r.number <= 2 else None` fails the first two requests, and
  `lambda r: 422 if (r.method, r.path) == ("PUT", "/users/2") else None` rejects one record;
- not found: an id not in the store answers 404.

`max_in_flight` is the most requests the server was answering at once (dlt's parallel extract).
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from testkit.loopback import LoopbackHTTPServer

__all__ = ["CrmServer", "IncomingRequest", "LoggedRequest", "dev_week_user"]

ICON_BASE = "https://digitalinnovationone.github.io/santander-dev-week-2023-api/icons"


def dev_week_user(user_id: int, name: str, *, balance: float = 100.0, news: list[dict] | None = None) -> dict:
    """One user record in the Dev Week API's shape, with plausible synthetic bank data."""
    return {
        "id": user_id,
        "name": name,
        "account": {
            "id": user_id,
            "number": f"{user_id:08d}-{user_id % 10}",
            "agency": "0001",
            "balance": balance,
            "limit": 500.0,
        },
        "card": {"id": user_id, "number": f"xxxx xxxx xxxx {user_id:04d}", "limit": 1000.0},
        "features": [{"id": 1, "icon": f"{ICON_BASE}/pix.svg", "description": "PIX"}],
        "news": list(news or []),
    }


@dataclass(frozen=True)
class IncomingRequest:
    number: int  # 1-based, counting every request the server received
    method: str
    path: str


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    status: int


class CrmServer:
    """The fake CRM. Use as a context manager, or call `start()` and `close()`."""

    def __init__(
        self,
        users: Iterable[dict] = (),
        *,
        token: str | None = None,
        delay_seconds: float = 0.0,
        fault: Callable[[IncomingRequest], int | None] | None = None,
    ) -> None:
        self.users: dict[int, dict] = {user["id"]: copy.deepcopy(user) for user in users}
        self.token = token
        self.delay_seconds = delay_seconds
        self.fault = fault
        self.requests: list[LoggedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd = LoopbackHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @staticmethod
    def unreachable_url() -> str:
        """An address on loopback where nothing listens: every connection is refused."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> CrmServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status_counts(self, method: str) -> Counter[int]:
        """How many `method` requests got each status code."""
        return Counter(request.status for request in self.requests if request.method == method)

    def _answer(self, method: str, user_id: int, body: str) -> tuple[int, Any]:
        if user_id not in self.users:
            return 404, {"error": f"user {user_id} not found"}
        if method == "GET":
            return 200, self.users[user_id]
        record = json.loads(body)
        if record.get("id") != user_id:
            return 400, {"error": "the body's id does not match the path"}
        next_news_id = 1 + max((item.get("id") or 0 for item in self.users[user_id]["news"]), default=0)
        for item in record.get("news", []):
            if item.get("id") is None:
                item["id"] = next_news_id
                next_news_id += 1
        self.users[user_id] = record
        return 200, record

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet: the request log is `server.requests`."""

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                with server._lock:
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                with server._lock:
                    server._in_flight -= 1
                    status, payload = self._route(method, body)
                    server.requests.append(
                        LoggedRequest(method, self.path, dict(self.headers.items()), body, status)
                    )
                encoded = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def _route(self, method: str, body: str) -> tuple[int, Any]:
                incoming = IncomingRequest(len(server.requests) + 1, method, self.path)
                faulty_status = server.fault(incoming) if server.fault else None
                if faulty_status is not None:
                    return faulty_status, {"error": f"fault injected: HTTP {faulty_status}"}
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    return 401, {"error": "missing or wrong token"}
                prefix, _, user_id = self.path.rstrip("/").rpartition("/")
                if prefix != "/users" or not user_id.isdigit():
                    return 404, {"error": f"no route for {self.path}"}
                return server._answer(method, int(user_id), body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PUT(self) -> None:
                self._handle("PUT")

        return Handler
