"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

Real HTTP, real JSON: litellm talks to it exactly as to a provider (`openai/<name>` with
`api_base`). Each model's behaviour is a Python function of the request, so tests can
script correct answers, wrong answers on a known subset, refusals, latency, 429s with
Retry-After, 5xx, resets, malformed bodies and hangs, and count every call received.

`/v1/embeddings` answers with the vector scripted for each text (`vectors`), else with
`embed_default(text)`; a text with neither is refused with 400, so a test never grades
against a vector it did not plan. `keyed_replies` scripts a judge whose reply is chosen
by what the request contains.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """What the server does for one request."""

    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before answering
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    body: bytes | None = None  # raw body instead of a completion (malformed replies)
    hang: bool = False  # accept and never answer
    reset: bool = False  # drop the connection mid-body
    no_choices: bool = False
    completion_tokens: int | None = None


@dataclass
class Request:
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    attempt: int  # 1 for the first time this exact request is seen, 2 for a retry...
    authorization: str = ""  # the Authorization header it came with ("Bearer <key>")

    @property
    def user(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")

    @property
    def system(self) -> str:
        return next((m["content"] for m in self.messages if m["role"] == "system"), "")

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.body, sort_keys=True).encode()).hexdigest()

    def fraction(self, salt: str = "") -> float:
        """A stable pseudo-random number in [0, 1) for this request (not the attempt)."""
        digest = hashlib.sha256((salt + self.key()).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64


Behaviour = Callable[[Request], Reply]


def keyed_replies(table: dict[str, str | Reply]) -> Behaviour:
    """A judge scripted by content: the reply of the first key (in the table's order) that
    occurs in the request's messages; a request that contains none is refused with 400."""

    def behave(request: Request) -> Reply:
        text = "\n".join(str(m.get("content", "")) for m in request.messages)
        for key, reply in table.items():
            if key in text:
                return reply if isinstance(reply, Reply) else Reply(text=reply)
        return Reply(status=400)

    return behave


class ScriptedServer:
    """Serve `behaviours` (model name -> function) on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        behaviours: dict[str, Behaviour],
        port: int = 0,
        *,
        vectors: dict[str, list[float]] | None = None,
        embed_default: Callable[[str], list[float]] | None = None,
    ) -> None:
        self.behaviours = behaviours
        self.vectors = dict(vectors or {})  # text -> its embedding
        self.embed_default = embed_default
        self.embedded: Counter[str] = Counter()  # text -> times embedded
        self.port = port
        self.calls: Counter[str] = Counter()  # model -> requests received
        self.attempts: Counter[str] = Counter()  # request key -> times seen
        self.asked: Counter[tuple[str, str]] = Counter()  # (model, user message) -> times
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        try:
            body = await http.json()
        except ValueError:
            return web.json_response({"error": {"message": "bad json"}}, status=400)
        model = str(body.get("model", ""))
        behaviour = self.behaviours.get(model)
        if behaviour is None:
            return web.json_response(
                {"error": {"message": f"model {model} not found", "type": "invalid_request_error"}},
                status=404,
            )
        request = Request(
            model=model,
            messages=body.get("messages", []),
            body=body,
            attempt=0,
            authorization=http.headers.get("Authorization", ""),
        )
        with self._lock:
            self.calls[model] += 1
            self.attempts[request.key()] += 1
            self.asked[(model, request.user)] += 1
            request.attempt = self.attempts[request.key()]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = behaviour(request)
            if reply.hang:
                await asyncio.sleep(3600)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.reset:
                response = web.StreamResponse(
                    status=200,
                    headers={"Content-Type": "application/json", "Content-Length": "500"},
                )
                await response.prepare(http)
                await response.write(b'{"id": "x", "choices": [')
                assert http.transport is not None
                http.transport.close()
                return response
            if reply.body is not None:
                return web.Response(
                    body=reply.body,
                    status=reply.status,
                    headers=reply.headers,
                    content_type="application/json",
                )
            if reply.status != 200:
                return web.json_response(
                    {
                        "error": {
                            "message": f"scripted status {reply.status}",
                            "type": "server_error",
                        }
                    },
                    status=reply.status,
                    headers=reply.headers,
                )
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.messages)
            completion_tokens = (
                reply.completion_tokens
                if reply.completion_tokens is not None
                else max(1, len(reply.text.split()))
            )
            payload = {
                "id": "chatcmpl-" + request.key()[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": []
                if reply.no_choices
                else [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
            return web.json_response(payload, headers=reply.headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _embeddings(self, http: web.Request) -> web.Response:
        try:
            body = await http.json()
        except ValueError:
            return web.json_response({"error": {"message": "bad json"}}, status=400)
        model = str(body.get("model", ""))
        raw = body.get("input")
        texts = [str(t) for t in raw] if isinstance(raw, list) else [str(raw)]
        with self._lock:
            self.calls[model] += 1
            self.embedded.update(texts)
        data = []
        for index, text in enumerate(texts):
            vector = self.vectors.get(text)
            if vector is None and self.embed_default is not None:
                vector = self.embed_default(text)
            if vector is None:
                message = f"no vector scripted for {text!r}"
                return web.json_response(
                    {"error": {"message": message, "type": "invalid_request_error"}}, status=400
                )
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": name, "object": "model"} for name in self.behaviours],
            }
        )

    def start(self) -> ScriptedServer:
        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._handle)
            app.router.add_post("/chat/completions", self._handle)
            app.router.add_post("/v1/embeddings", self._embeddings)
            app.router.add_post("/embeddings", self._embeddings)
            app.router.add_get("/v1/models", self._models)
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
            loop.run_until_complete(site.start())
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.port = sockets[0].getsockname()[1]
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="scripted-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
