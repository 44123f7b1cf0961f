"""The scripted OpenAI-compatible server of the tests, in a process of its own.

The benchmark runs the server here so that its CPU is never counted as the measured
client's. Every model answers correctly ("answer-<case id>") after a fixed latency.

    python benchmarks/server.py --latency 0.2 --models good,cand
    python benchmarks/server.py --latency 0.2 --rate-limit 100/10   # 100 requests per 10 s

With `--rate-limit N/SECONDS` one fixed-window allowance covers every model (one key):
each answer carries OpenAI's `x-ratelimit-*` headers, a request past it is refused with
429 and Retry-After (tests/support/ratelimits.py).

prints one JSON line `{"port": N}` once it listens, then answers commands read from
stdin, one per line, with one JSON line each:

    stats   calls received, per model, the first and last requests' wall-clock
            times, the number of distinct requests received more than once, peak
            in-flight requests, client connections opened and requests refused (429)
    reset   zero the counters
    quit    stop
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from tests.support.openai_server import Reply, Request, ScriptedServer  # noqa: E402
from tests.support.ratelimits import WindowLimit  # noqa: E402
from tests.support.scenarios import correct  # noqa: E402


class TimedServer(ScriptedServer):
    """A ScriptedServer that also notes when the first request arrived."""

    def __init__(self, latency: float, models: list[str], limit: WindowLimit | None) -> None:
        self._first_lock = threading.Lock()
        self.limit = limit
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        answer = correct(delay=latency)

        def behave(request: Request) -> Reply:
            self.last_request_at = time.time()
            if self.first_request_at is None:
                with self._first_lock:
                    if self.first_request_at is None:
                        self.first_request_at = time.time()
            return answer(request)

        behaviour = limit.wrap(behave) if limit is not None else behave
        super().__init__({name: behaviour for name in models})
        self.connections: set[Any] = set()  # (host, port) of every client connection seen

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        if http.transport is not None:
            peer = http.transport.get_extra_info("peername")
            with self._lock:
                self.connections.add(peer)
        return await super()._handle(http)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": sum(self.calls.values()),
                "by_model": dict(self.calls),
                "first_request_at": self.first_request_at,
                "last_request_at": self.last_request_at,
                "repeated_requests": sum(1 for n in self.attempts.values() if n > 1),
                "max_in_flight": self.max_in_flight,
                "connections": len(self.connections),
                "refused": dict(self.limit.refused) if self.limit else {},
            }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()
            self.asked.clear()
            self.max_in_flight = 0
            self.connections.clear()
            self.first_request_at = None
            self.last_request_at = None
        if self.limit is not None:
            self.limit.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--models", default="good,cand", help="comma-separated model names")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--rate-limit", metavar="N/SECONDS", help="allow N requests per window of SECONDS"
    )
    parser.add_argument("--style", default="openai", help="headers sent: openai|anthropic|none")
    args = parser.parse_args()
    limit = None
    if args.rate_limit:
        count, _, seconds = args.rate_limit.partition("/")
        limit = WindowLimit(int(count), float(seconds), style=args.style)
    server = TimedServer(args.latency, args.models.split(","), limit)
    server.port = args.port
    server.start()
    print(json.dumps({"port": server.port}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            print(json.dumps(server.stats()), flush=True)
        elif command == "reset":
            server.reset()
            print(json.dumps({"ok": True}), flush=True)
        elif command == "quit":
            break
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
