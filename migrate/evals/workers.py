"""`migrate run --workers N`: a run's calls made by N worker processes, on every core.

The run's own process (the parent) keeps everything that makes a run safe to kill: the
journal (it alone writes it), the cache, the lock, the breaker, and every limit, which stay
global: each model's pace by its provider's headers, the adaptive concurrency, retries and
their backoff (`ModelSeam.complete` runs here as it does in one process). A worker does
the CPU-heavy part, one request through litellm (`ModelSeam.send`), and answers with a
plain record; the parent never imports litellm. A model with deployments is served whole
by one worker, where its Router lives (its rotation, cooldowns and rpm/tpm need one
process), while the parent still holds the run's concurrency for it.

Workers are forked from one process that imported litellm (migrate/evals/worker.py), so
that they share its memory. When a worker ends (killed, out of memory), the requests it had
in flight are sent again to a fresh one; when the parent ends, however it ends, each
worker's socket closes and the worker exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

import migrate
from migrate.embeddings import embedding_record
from migrate.errors import InfrastructureError, UsageError
from migrate.evals.facts import ModelFacts, Prompt
from migrate.evals.preflight import ModelUse
from migrate.llm import CallRecord, ModelSeam, Sent, Target

WORKERS_FROM_CALLS = 300  # a run with more calls than this uses every core by default
LOST_TRIES = 3  # a request whose worker ends this many times ends the run
READERS = {"aembedding": embedding_record}  # how a worker reads a call's answer, by call
TARGET: TypeAdapter[Target] = TypeAdapter(Target)
USE: TypeAdapter[ModelUse] = TypeAdapter(ModelUse)


def default_workers(calls: int) -> int:
    """Every core the run may use when it has more than a few hundred calls, else none.
    Only on Linux: elsewhere forking a process that loaded litellm's TLS and system
    libraries is not known to be safe (macOS warns against it), so `--workers` is asked."""
    if calls <= WORKERS_FROM_CALLS or not sys.platform.startswith("linux"):
        return 1
    return len(os.sched_getaffinity(0))


def refuse_without_fork(count: int) -> None:
    if count > 1 and not hasattr(os, "fork"):
        raise UsageError(
            f"--workers {count}: worker processes need fork(), which {sys.platform} lacks"
        )


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class WorkerLost(Exception):
    pass


@dataclass(eq=False)
class _Worker:
    sock: socket.socket
    process: subprocess.Popen[bytes]  # the process that forked it, which reaps it
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    buffer: bytearray = field(default_factory=bytearray)
    pid: int | None = None  # said by the worker once it is ready
    fatal: str | None = None  # why it could not start
    dead: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    sending: asyncio.Lock | None = None


class WorkerPool:
    """N workers, each a JSON-lines conversation over a socket pair."""

    def __init__(
        self,
        size: int,
        timeout: float,
        retries: int,
        concurrency: int,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.size = size
        self.environ = dict(os.environ if environ is None else environ)
        self.options = ["--timeout", str(timeout), "--retries", str(retries)]
        self.options += ["--concurrency", str(concurrency)]
        self.patience = timeout + 30  # a worker silent this long after a request is hung
        self.processes: list[subprocess.Popen[bytes]] = []
        # The first request on the first socket is litellm's facts (Workers.facts), which
        # the workers' process answers before it forks them.
        self.workers = self._spawn(size, "--facts-first")
        self.respawned = 0
        self._ids = itertools.count(1)

    def _spawn(self, count: int, *flags: str) -> list[_Worker]:
        pairs = [socket.socketpair() for _ in range(count)]
        theirs = [child.fileno() for _, child in pairs]
        theirs_text = [str(fd) for fd in theirs]
        package_root = str(Path(migrate.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_root, self.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate.evals.worker", *self.options, *flags, *theirs_text],
            pass_fds=theirs,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a worker says what stopped it over its socket
            env={**self.environ, "PYTHONPATH": path},
        )
        self.processes.append(process)
        for mine, child in pairs:
            child.close()
            mine.setblocking(False)
        return [_Worker(mine, process) for mine, _ in pairs]

    def _choose(self, pin: str | None, first: bool = False) -> _Worker:
        for index, worker in enumerate(self.workers):
            if worker.dead:
                if worker.fatal is not None:
                    raise InfrastructureError(f"a call worker could not start: {worker.fatal}")
                if self.respawned >= 4 * self.size:
                    raise InfrastructureError(
                        f"call workers ended {self.respawned} times during the run; "
                        "the calls made so far are journaled: resume it, with --workers 1 "
                        "to make the calls in one process"
                    )
                self.respawned += 1
                self.workers[index] = self._spawn(1)[0]
        if first:
            return self.workers[0]
        if pin is not None:
            return self.workers[zlib.crc32(pin.encode()) % self.size]
        return min(self.workers, key=lambda w: len(w.pending))

    def _attach(self, worker: _Worker) -> None:
        """Listen to the worker from the running event loop (each asyncio.run has its own)."""
        loop = asyncio.get_running_loop()
        if worker.loop is not loop:
            worker.loop, worker.sending = loop, asyncio.Lock()
            loop.create_task(self._listen(worker))

    async def _listen(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        while not worker.dead:
            try:
                chunk = await loop.sock_recv(worker.sock, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self._lost(worker, "it ended")
                return
            worker.buffer += chunk
            if b"\n" not in chunk:  # what came before holds no whole line either
                continue
            *lines, worker.buffer = worker.buffer.split(b"\n")
            for line in lines:
                self._hear(worker, json.loads(line))

    def _hear(self, worker: _Worker, message: dict[str, Any]) -> None:
        if "hello" in message:
            worker.pid = int(message["hello"])
        elif "fatal" in message:
            worker.fatal = str(message["fatal"])
        else:
            waiting = worker.pending.pop(message["id"], None)
            if waiting is not None and not waiting.done():
                waiting.set_result(message)

    def _lost(self, worker: _Worker, why: str) -> None:
        if worker.dead:
            return
        worker.dead = True
        worker.sock.close()
        if worker.pid is not None:  # a hung worker is ended, so that nothing answers late
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        for waiting in worker.pending.values():
            if not waiting.done():
                waiting.set_exception(WorkerLost(why))
        worker.pending.clear()

    async def request(
        self,
        message: dict[str, Any],
        pin: str | None = None,
        patient: bool = False,
        first: bool = False,
    ) -> dict[str, Any]:
        """The worker's answer to `message`, sent again to a fresh worker if one ends
        (`pin`: always the same worker for that name; `first`: the first worker)."""
        for _ in range(LOST_TRIES):
            worker = self._choose(pin, first)
            self._attach(worker)
            number = next(self._ids)
            answer = asyncio.get_running_loop().create_future()
            worker.pending[number] = answer
            try:
                assert worker.sending is not None and worker.loop is not None
                async with worker.sending:  # one message at a time on the socket
                    await worker.loop.sock_sendall(worker.sock, encode({**message, "id": number}))
                reply: dict[str, Any] = await asyncio.wait_for(
                    answer, None if patient else self.patience
                )
            except (WorkerLost, OSError, TimeoutError) as exc:
                self._lost(worker, str(exc) or "it did not answer")
                continue
            if "failed" in reply:
                raise InfrastructureError(f"a call worker failed: {reply['failed']}")
            return reply
        raise InfrastructureError(
            f"call workers ended {LOST_TRIES} times while making one request; the calls "
            "made so far are journaled: resume the run, with --workers 1 to make the calls "
            "in one process"
        )

    def close(self) -> None:
        """End every worker (each exits when its socket closes) and reap them."""
        for worker in self.workers:
            worker.dead = True
            worker.sock.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a worker that does not end is ended
                for worker in self.workers:
                    if worker.pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker.pid, signal.SIGKILL)
                process.kill()
                process.wait()


class WorkerSeam(ModelSeam):
    """The model seam with its requests sent by workers; paces, limits, retries stay here."""

    def __init__(self, pool: WorkerPool, concurrency: int, timeout: float, retries: int) -> None:
        super().__init__(concurrency, timeout, retries)
        self.pool = pool

    async def send(
        self, target: Target, kwargs: dict[str, Any], call: str, read: Any, attempt: int
    ) -> Sent:
        if read is not READERS.get(call):
            raise ValueError(f"workers read a {call} answer with {READERS.get(call)}, not {read}")
        reply = await self.pool.request(
            {
                "op": "send",
                "target": TARGET.dump_python(target, mode="json"),
                "kwargs": kwargs,
                "call": call,
                "attempt": attempt,
            }
        )
        return Sent.from_json(reply["sent"])

    async def complete(
        self,
        target: Target,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        call: str = "acompletion",
        read: Any = None,
    ) -> CallRecord:
        if not target.deployments:
            return await super().complete(target, messages, params, call, read)
        async with self._slot(target):
            reply = await self.pool.request(
                {
                    "op": "complete",
                    "target": TARGET.dump_python(target, mode="json"),
                    "messages": messages,
                    "params": params,
                    "call": call,
                },
                pin=target.model,
                patient=True,  # retries and deployments' cooldowns happen inside
            )
        record = CallRecord(**reply["record"])
        self.calls_made += record.attempts
        self.rate_limited += record.rate_limited
        return record


class Workers:
    """A run's calls made by worker processes, litellm's facts asked of one of them."""

    def __init__(
        self,
        count: int,
        concurrency: int,
        timeout: float,
        retries: int,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`environ`: the workers' environment, where their calls and facts find keys
        (default: this process's)."""
        refuse_without_fork(count)
        self.pool = WorkerPool(count, timeout, retries, concurrency, environ)
        self.seam: ModelSeam = WorkerSeam(self.pool, concurrency, timeout, retries)

    def facts(
        self, uses: list[ModelUse], prompts: list[Prompt], environ: Mapping[str, str]
    ) -> ModelFacts:
        """Asked of a worker, which reads the environment it was started with: `environ` is
        the one `Workers` was given, where the calls will find their keys too."""
        message = {
            "op": "facts",
            "uses": [USE.dump_python(use, mode="json") for use in uses],
            "prompts": prompts,
        }
        reply = asyncio.run(self.pool.request(message, patient=True, first=True))
        return ModelFacts(**reply["facts"])

    def close(self) -> None:
        self.pool.close()
