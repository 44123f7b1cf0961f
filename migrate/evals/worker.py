"""A call worker of `migrate run --workers N` (the parent's side: migrate/evals/workers.py).

Started as `python -m migrate.evals.worker --timeout T --retries R --concurrency C FD...`,
it imports litellm once, then forks one worker per socket FD, so that the workers share
litellm's memory copy-on-write (its objects frozen out of the collector's reach, which
would otherwise touch and copy them), and reaps them. A worker says {"hello": pid}, then
answers each JSON line its parent sends, on the same socket, as soon as it is done:

  {"id", "op": "send", "target", "kwargs", "call", "attempt"}  one request, never retried
      -> {"id", "sent": Sent}
  {"id", "op": "complete", "target", "messages", "params", "call"}  a whole call of a model
      with deployments, through its Router -> {"id", "record": CallRecord}
  {"id", "op": "facts", "uses", "prompts"}  -> {"id", "facts": ModelFacts}

With --facts-first, the first request on the first socket is the facts, answered before the
fork (what it loads is shared then).

When its socket closes (the parent ended, however it ended), the worker exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import asdict
from typing import Any

from migrate.evals.facts import litellm_facts
from migrate.evals.workers import READERS, TARGET, USE, encode
from migrate.llm import litellm_module
from migrate.routing import RoutingSeam
from migrate.secrets import redact

LINE_LIMIT = 1 << 30  # a facts request carries every prompt of the run on one line


async def answer(message: dict[str, Any], seam: RoutingSeam | None) -> dict[str, Any]:
    op = message["op"]
    if op == "facts":
        uses = [USE.validate_python(use) for use in message["uses"]]
        prompts = [(model, messages) for model, messages in message["prompts"]]
        return {"facts": asdict(litellm_facts(uses, prompts, os.environ))}
    assert seam is not None
    if op == "send":
        call = message["call"]
        target = TARGET.validate_python(message["target"])
        attempt = int(message["attempt"])
        sent = await seam.send(target, message["kwargs"], call, READERS.get(call), attempt)
        return {"sent": sent.to_json()}
    if op == "complete":
        target = TARGET.validate_python(message["target"])
        record = await seam.complete(
            target, message["messages"], message["params"], message["call"]
        )
        return {"record": record.to_json()}
    raise ValueError(f"no such request: {op}")


async def serve(sock: socket.socket, seam: RoutingSeam) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)
    writer.write(encode({"hello": os.getpid()}))
    running: set[asyncio.Task[None]] = set()

    async def reply(message: dict[str, Any]) -> None:
        try:
            found = await answer(message, seam)
        except Exception as exc:  # a fault of migrate's own: the parent ends the run
            found = {"failed": f"{type(exc).__name__}: {redact(str(exc))}"}
        writer.write(encode({"id": message["id"], **found}))

    while line := await reader.readline():
        task = asyncio.create_task(reply(json.loads(line)))
        running.add(task)
        task.add_done_callback(running.discard)
    os._exit(0)  # the parent is gone: what was in flight is its to redo


def facts_first(sock: socket.socket) -> None:
    """Answer the parent's first request, litellm's facts, before forking: the tokenizers
    it loads (tens of megabytes each) are then shared by every worker, not one's own."""
    data = bytearray()
    while not data.endswith(b"\n"):  # the parent sends nothing else before the answer
        chunk = sock.recv(1 << 20)
        if not chunk:
            sys.exit(0)  # the parent is gone
        data += chunk
    message = json.loads(data)
    try:
        found = asyncio.run(answer(message, None))
    except Exception as exc:
        found = {"failed": f"{type(exc).__name__}: {redact(str(exc))}"}
    sock.sendall(encode({"id": message["id"], **found}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrate.evals.worker")
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--retries", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--facts-first", action="store_true")
    parser.add_argument("fds", type=int, nargs="+")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    sockets = [socket.socket(fileno=fd) for fd in options.fds]
    try:
        litellm_module()
    except BaseException as exc:
        for sock in sockets:
            sock.sendall(encode({"fatal": f"importing litellm: {type(exc).__name__}: {exc}"}))
        return 1
    if options.facts_first:
        facts_first(sockets[0])
    children = []
    for sock in sockets:
        pid = os.fork()
        if pid == 0:
            for other in sockets:
                if other is not sock:
                    other.close()
            seam = RoutingSeam(options.concurrency, options.timeout, options.retries)
            try:
                asyncio.run(serve(sock, seam))  # exits when its socket closes
            finally:
                os._exit(1)
        children.append(pid)
    for sock in sockets:
        sock.close()
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
