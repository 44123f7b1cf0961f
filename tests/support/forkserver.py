"""Run `migrate` in real processes forked from one interpreter that has imported litellm.

`python -m migrate run` spends seconds importing litellm before its first call. Tests that
kill and restart runs dozens of times fork each process from a server that paid for the
import once: a child runs exactly what `python -m migrate` runs (`migrate.cli.main`) in a
process of its own, with its own working directory, environment and output files, so
SIGKILL, flock and O_APPEND behave as for any other process.

The server reads one JSON request per line on stdin and answers one JSON line on stdout:
`{"op": "spawn", "cwd", "args", "env", "stdout", "stderr"}` -> `{"pid"}`, and
`{"op": "wait", "pid", "timeout"}` -> `{"status"}` (the exit code, minus the signal number
for a killed child, or null when the child is still running at the timeout).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def _child(request: dict[str, Any]) -> int:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["migrate", *request["args"]]
    from migrate.cli import main

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must end here whatever happens
        code = 70
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def serve() -> None:
    """The server loop: import everything a run needs once, then fork on request."""
    import migrate.cli  # noqa: F401
    import migrate.commands.calendar  # noqa: F401
    import migrate.commands.plan  # noqa: F401
    import migrate.commands.report  # noqa: F401
    import migrate.commands.run  # noqa: F401
    import migrate.reports  # noqa: F401
    from migrate.llm import litellm_module

    litellm_module()
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            answers.flush()
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    code = _child(request)
                finally:
                    os._exit(code)
            reply: dict[str, Any] = {"pid": pid}
        else:
            deadline = time.monotonic() + float(request.get("timeout", 120))
            status = None
            while True:
                done, raw = os.waitpid(request["pid"], os.WNOHANG)
                if done:
                    status = os.waitstatus_to_exitcode(raw)
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            reply = {"status": status}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()


@dataclass
class Child:
    """One forked `migrate` process."""

    server: ForkServer
    pid: int
    stdout_path: Path
    stderr_path: Path
    status: int | None = None

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float = 120) -> int:
        if self.status is None:
            status = self.server.request({"op": "wait", "pid": self.pid, "timeout": timeout})[
                "status"
            ]
            if status is None:
                self.kill()
                self.server.request({"op": "wait", "pid": self.pid, "timeout": 10})
                raise TimeoutError(f"migrate (pid {self.pid}) still ran after {timeout}s")
            self.status = int(status)
        return self.status

    def poll(self) -> int | None:
        """The exit status if the child has ended (without reaping a running one)."""
        if self.status is not None:
            return self.status
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "Z"
        if state == "Z":
            return self.wait(10)
        return None

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


class ForkServer:
    """The test side: start the server, spawn `migrate ARGS` children, wait for them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.support.forkserver import serve; serve()"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def request(self, data: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(data) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fork server ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def spawn(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Child:
        self.count += 1
        out = self.scratch / f"child-{self.count}.out"
        err = self.scratch / f"child-{self.count}.err"
        pid = self.request(
            {
                "op": "spawn",
                "cwd": str(cwd),
                "args": list(args),
                "env": {**os.environ, **(env or {})},
                "stdout": str(out),
                "stderr": str(err),
            }
        )["pid"]
        return Child(self, int(pid), out, err)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":  # pragma: no cover
    serve()
