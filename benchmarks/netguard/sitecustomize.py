"""Loaded by the benchmark's network probe: log every connection off the loopback.

`benchmarks/run.py` puts this folder on PYTHONPATH for one `migrate run` and sets
BENCH_NET_LOG; each connect() or name lookup to a host that is not 127.0.0.1/localhost
is appended to that file (and still allowed to proceed).
"""

from __future__ import annotations

import os
import socket
from typing import Any

_LOG = os.environ.get("BENCH_NET_LOG")
_LOCAL = {"127.0.0.1", "::1", "localhost", ""}


def _note(kind: str, host: Any) -> None:
    if _LOG and str(host) not in _LOCAL:
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{kind} {host}\n")


if _LOG:
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple):
            _note("connect", address[0])
        return _connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple):
            _note("connect", address[0])
        return _connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _note("resolve", host.decode() if isinstance(host, bytes) else host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
