"""The HTTP server class behind testkit's loopback servers."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connection attempts when a client opens its 16 connections at
    # once, and a dropped SYN is retried only after a second: that second would be the server's.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # Tests time clients out on purpose: a handler then writes to a socket its client has left.
        # That is expected, and its traceback would land in whichever test runs next.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
