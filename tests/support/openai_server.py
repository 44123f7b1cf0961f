"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

Real HTTP, real JSON: litellm talks to it exactly as to a provider (`openai/<name>` with
`api_base`). Each model's behaviour is a Python function of the request, so tests can
script correct answers, wrong answers on a known subset, refusals, latency, 429s with
Retry-After, 5xx, resets, malformed bodies and hangs, and count every call received.

It also serves OpenAI's files and batches endpoints (`/v1/files`, `/v1/batches`): a batch
runs each line of its input file through the same behaviours once it has been polled
`BatchScript.polls` times, and can be scripted to expire part way, to be rejected whole,
or to hold a response back (so that a test can kill its client at that moment).

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


@dataclass
class BatchScript:
    """How the server's batches behave."""

    polls: int = 1  # retrieves that answer "in_progress" before a batch finishes
    expire_after: int | None = None  # the batch expires once this many lines have run
    expire_batches: int = 0  # ... for this many batches (the next ones complete)
    reject: str | None = None  # every batch fails validation with this message
    create_delay: float = 0.0  # seconds before answering a create, the batch made already
    content_delay: float = 0.0  # seconds before serving a file's content
    results_delay: float = 0.0  # ... of an output or error file only
    uploads_refused: int = 0  # this many uploads are answered 500 (the next ones succeed)


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
        self.batch_script = BatchScript()
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, content)
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_polls: Counter[str] = Counter()
        self.batch_lines: Counter[tuple[str, str]] = Counter()  # (model, custom_id) -> lines run
        self.batch_answered: Counter[tuple[str, str]] = Counter()  # ... answered 200
        self.results_asked = 0  # requests for an output or error file's content

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
            payload = self._completion(request, reply)
            return web.json_response(payload, headers=reply.headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _completion(request: Request, reply: Reply) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.messages)
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else max(1, len(reply.text.split()))
        )
        return {
            "id": "chatcmpl-" + request.key()[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
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

    # --- files and batches -----------------------------------------------------------------

    def _new_file(self, purpose: str, content: bytes, name: str) -> dict[str, Any]:
        with self._lock:
            file_id = f"file-{len(self.files) + 1:06d}"
            self.files[file_id] = (purpose, content)
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    async def _upload(self, http: web.Request) -> web.Response:
        form = await http.post()
        if self.batch_script.uploads_refused > 0:
            self.batch_script.uploads_refused -= 1
            return web.json_response({"error": {"message": "scripted status 500"}}, status=500)
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"error": {"message": "no file"}}, status=400)
        content = upload.file.read()
        return web.json_response(self._new_file(str(form.get("purpose")), content, upload.filename))

    async def _file(self, http: web.Request) -> web.Response:
        file_id = http.match_info["id"]
        if file_id not in self.files:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        purpose, content = self.files[file_id]
        return web.json_response(
            {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0,
             "filename": file_id, "purpose": purpose, "status": "processed"}
        )  # fmt: skip

    async def _content(self, http: web.Request) -> web.Response:
        file_id = http.match_info["id"]
        if file_id not in self.files:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        purpose, content = self.files[file_id]
        delay = self.batch_script.content_delay
        if purpose == "batch_output":
            self.results_asked += 1
            delay += self.batch_script.results_delay
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _create_batch(self, http: web.Request) -> web.Response:
        body = await http.json()
        input_file = str(body.get("input_file_id", ""))
        if input_file not in self.files:
            return web.json_response({"error": {"message": "no such input file"}}, status=400)
        lines = [json.loads(x) for x in self.files[input_file][1].decode().splitlines() if x]
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1:06d}"
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "errors": None,
                "input_file_id": input_file,
                "completion_window": body.get("completion_window"),
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
                "_lines": lines,
            }
        if self.batch_script.create_delay:
            await asyncio.sleep(self.batch_script.create_delay)
        return web.json_response(self._public(batch_id))

    def _public(self, batch_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")}

    async def _retrieve_batch(self, http: web.Request) -> web.Response:
        batch_id = http.match_info["id"]
        if batch_id not in self.batches:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        with self._lock:
            batch = self.batches[batch_id]
            self.batch_polls[batch_id] += 1
            if batch["status"] in {"validating", "in_progress"}:
                if self.batch_polls[batch_id] > self.batch_script.polls:
                    self._finish(batch)
                else:
                    batch["status"] = "in_progress"
        return web.json_response(self._public(batch_id))

    def _finish(self, batch: dict[str, Any]) -> None:
        """Run the batch's lines (the lock held): output and error files, final status."""
        script = self.batch_script
        if script.reject is not None:
            batch["status"] = "failed"
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid", "message": script.reject}],
            }
            return
        expiring = script.expire_after is not None and script.expire_batches > 0
        if expiring:
            script.expire_batches -= 1
        outputs, errors = [], []
        for number, line in enumerate(batch["_lines"]):
            custom_id = line["custom_id"]
            if expiring and number >= (script.expire_after or 0):
                errors.append(
                    {
                        "id": f"req_{number}",
                        "custom_id": custom_id,
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request "
                            "could not be executed before the completion window expired.",
                        },
                    }
                )
                continue
            body = line["body"]
            model = str(body.get("model", ""))
            request = Request(model=model, messages=body.get("messages", []), body=body, attempt=0)
            self.batch_lines[(model, custom_id)] += 1
            self.calls[model] += 1
            self.attempts[request.key()] += 1
            request.attempt = self.attempts[request.key()]
            behaviour = self.behaviours.get(model)
            if behaviour is None:
                errors.append(
                    {
                        "id": f"req_{number}",
                        "custom_id": custom_id,
                        "response": {
                            "status_code": 404,
                            "body": {
                                "error": {
                                    "message": f"model {model} not found",
                                    "type": "invalid_request_error",
                                }
                            },
                        },
                        "error": None,
                    }
                )
                continue
            reply = behaviour(request)
            if reply.status != 200:
                errors.append(
                    {
                        "id": f"req_{number}",
                        "custom_id": custom_id,
                        "response": {
                            "status_code": reply.status,
                            "body": {
                                "error": {
                                    "message": f"scripted status {reply.status}",
                                    "type": "server_error",
                                }
                            },
                        },
                        "error": None,
                    }
                )
                continue
            self.batch_answered[(model, custom_id)] += 1
            outputs.append(
                {
                    "id": f"req_{number}",
                    "custom_id": custom_id,
                    "response": {
                        "status_code": 200,
                        "request_id": f"r{number}",
                        "body": self._completion(request, reply),
                    },
                    "error": None,
                }
            )
        now = int(time.time())
        for key, rows in (("output_file_id", outputs), ("error_file_id", errors)):
            if rows:
                content = "".join(json.dumps(r) + "\n" for r in rows).encode()
                with_id = self._new_file_locked("batch_output", content)
                batch[key] = with_id
        batch["status"] = "expired" if expiring else "completed"
        batch["expired_at" if expiring else "completed_at"] = now
        batch["request_counts"] = {
            "total": len(batch["_lines"]),
            "completed": len(outputs),
            "failed": len(errors),
        }

    def _new_file_locked(self, purpose: str, content: bytes) -> str:
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = (purpose, content)
        return file_id

    async def _list_batches(self, http: web.Request) -> web.Response:
        limit = int(http.query.get("limit", "20"))
        after = http.query.get("after")
        ids = sorted(self.batches, reverse=True)  # newest first, as OpenAI lists them
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = ids[:limit]
        return web.json_response({
            "object": "list", "data": [self._public(i) for i in page],
            "first_id": page[0] if page else None, "last_id": page[-1] if page else None,
            "has_more": len(ids) > limit,
        })  # fmt: skip

    async def _cancel_batch(self, http: web.Request) -> web.Response:
        batch_id = http.match_info["id"]
        if batch_id not in self.batches:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        with self._lock:
            self.batches[batch_id]["status"] = "cancelled"
        return web.json_response(self._public(batch_id))

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
            app.router.add_post("/v1/files", self._upload)
            app.router.add_get("/v1/files/{id}", self._file)
            app.router.add_get("/v1/files/{id}/content", self._content)
            app.router.add_post("/v1/batches", self._create_batch)
            app.router.add_get("/v1/batches", self._list_batches)
            app.router.add_get("/v1/batches/{id}", self._retrieve_batch)
            app.router.add_post("/v1/batches/{id}/cancel", self._cancel_batch)
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
