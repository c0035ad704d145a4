"""The servers a database URL names, and how a new connection finds the primary among them.

A URL may name several servers, as a Patroni cluster's does: `postgresql://u@h1:5432,h2:5432/db`
or `postgresql://u@/db?host=h1,h2&port=5432,5433`. asyncpg tries them in order within a single
connect timeout, so that a hung first server spends all of it; here each server gets its own
share of the budget (what is left, divided by the servers still to try), the server last found
to be the primary is tried first, and one that did not answer last time is tried last.

A connection must land on a read-write server unless the URL's target_session_attrs says
otherwise: the service writes on nearly every request, and a standby (or a primary fenced
read-only) refuses the connection and the next server is tried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from dnis_service.db.deadline import budget

DEFAULT_PORT = 5432
DEFAULT_TARGET = "read-write"


@dataclass(frozen=True)
class Server:
    host: str  # a name, an address, or a Unix socket's directory
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def servers_in(url: str) -> list[Server]:
    """The servers of a URL in its order (its host list, or its ?host= list); empty when it names
    none, and asyncpg's defaults apply. ValueError when its hosts and ports do not match up."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    listed = parts.netloc.rpartition("@")[2]
    if listed:
        specs = [_host_and_port(unquote(spec)) for spec in listed.split(",")]
    elif "host" in query:
        specs = [(host, "") for host in query["host"][-1].split(",")]
    else:
        return []
    ports = query["port"][-1].split(",") if "port" in query else [""]
    if len(ports) == 1:
        ports *= len(specs)
    if len(ports) != len(specs):
        raise ValueError(f"{len(ports)} ports for {len(specs)} hosts: give one port, or one per host")
    return [Server(host, _port(own_port or port)) for (host, own_port), port in zip(specs, ports, strict=True)]


def _host_and_port(spec: str) -> tuple[str, str]:
    if spec.startswith("["):  # an IPv6 address: [::1]:5432
        address, _, rest = spec[1:].partition("]")
        return address, rest.removeprefix(":")
    if spec.startswith("/"):  # a Unix socket's directory
        return spec, ""
    host, _, port = spec.partition(":")
    return host, port


def _port(text: str) -> int:
    if not text:
        return DEFAULT_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"port {text!r} is not a port number")
    return int(text)


def where(url: str) -> str:
    """The servers and database of a URL, for messages: never its credentials."""
    parts = urlsplit(url)
    try:
        servers = ",".join(str(server) for server in servers_in(url)) or "the local server"
    except ValueError:
        servers = parts.netloc.rpartition("@")[2] or ",".join(parse_qs(parts.query).get("host", []))
    return f"{servers}{parts.path}"


class NoServerAvailable(ConnectionError):
    """No server of the URL took a connection as the target the URL asks for; says why, server by
    server. A ConnectionError: the callers answer it as "database unavailable"."""


def _reason(error: Exception) -> str:
    if isinstance(error, asyncpg.exceptions.TargetServerAttributeNotMatched):
        return "not a read-write server (a standby, or read-only)"
    return str(error) or type(error).__name__


class Servers:
    """The servers of one URL, and what the last connections learnt about them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.servers = servers_in(url)
        self._options: dict[str, Any] = (
            {} if "target_session_attrs" in parse_qs(urlsplit(url).query)
            else {"target_session_attrs": DEFAULT_TARGET}
        )
        self._primary: Server | None = None  # the last server a connection was made to
        self._silent: set[Server] = set()  # servers whose last try timed out

    def in_order(self) -> list[Server]:
        """Who to try first: the last primary; last, those that gave no answer; else the URL's order."""
        return sorted(self.servers, key=lambda server: (server in self._silent, server != self._primary))

    async def connect(self, *, timeout: float, **options: Any) -> Any:
        """A new connection (asyncpg.connect's options) to the first server that takes it.

        `timeout` is the budget for all of them (cut to the deadline's, db/deadline.py), shared
        out so that each server still to try keeps its part however long the ones before took.
        """
        ends = time.monotonic() + budget(timeout)
        options = self._options | options
        if not self.servers:
            return await asyncpg.connect(self.url, timeout=ends - time.monotonic(), **options)
        refusals: list[tuple[Server, str]] = []
        order = self.in_order()
        for untried, server in zip(range(len(order), 0, -1), order, strict=True):
            share = (ends - time.monotonic()) / untried
            if share <= 0:
                refusals.append((server, "not tried: no time left"))
                continue
            try:
                connection = await asyncpg.connect(
                    self.url, host=server.host, port=server.port, timeout=share, **options)
            except TimeoutError:
                self._silent.add(server)
                refusals.append((server, f"no answer within {share:.2f}s"))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    asyncpg.exceptions.TargetServerAttributeNotMatched) as error:
                self._silent.discard(server)
                refusals.append((server, _reason(error)))
            else:
                self._silent.discard(server)
                self._primary = server
                return connection
        if len(refusals) == 1:
            raise NoServerAvailable(refusals[0][1])
        raise NoServerAvailable("; ".join(f"{server}: {reason}" for server, reason in refusals))
