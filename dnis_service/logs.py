"""Log lines as text for a terminal or as JSON objects for a log pipeline, each carrying the id
(and tenant) of the request it was written for."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import IO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.msgspec import MsgspecFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The JSON object's first fields, under the names log pipelines expect; then any `extra`.
JSON_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger", "message": "message"}
# uvicorn adds its message again with terminal colour codes: no use in a pipeline.
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message"]


@dataclass
class RequestContext:
    """The request being served: its id, and its tenant once the caller is known."""

    request_id: str
    tenant: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("dnis_request", default=None)


def begin_request(request: RequestContext) -> Token[RequestContext | None]:
    """Tag every line logged from now on, in this task and those it starts, with the request.
    (A pair of calls, not a context manager: this runs for every request, and is 1 µs cheaper.)"""
    return _current.set(request)


def end_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def note_tenant(tenant_id: str) -> None:
    """The tenant of the request being served, if any, for its log lines."""
    request = _current.get()
    if request is not None:
        request.tenant = tenant_id


class _RequestFields(logging.Filter):
    """Adds request_id and tenant to a line logged while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current.get()
        if request is not None:
            record.request_id = request.request_id
            if request.tenant is not None and not hasattr(record, "tenant"):
                record.tenant = request.tenant
        return True


class _ExpectedOutage(logging.Filter):
    """asyncpg's pool logs a traceback each time it fails to reconnect while the database is
    down; the outage is expected and is reported in one line (the reason kept), as ours are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} error={type(error).__name__}: {error}"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    formatter = MsgspecFormatter(list(JSON_FIELDS), rename_fields=JSON_FIELDS, reserved_attrs=_NOT_FIELDS)
    # ISO 8601 in UTC with milliseconds, e.g. 2026-11-23T16:36:00.123Z.
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    return formatter


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing to stream (stderr) in log_format ("text" or "json")."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter(log_format))
    handler.addFilter(_RequestFields())
    return handler


def configure_logging(log_format: str, level: str) -> None:
    """Every logger's lines, from level up, to stderr in log_format."""
    # Neither format shows the source line, thread or process of a call: not looking them up
    # saves a few microseconds a line (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.addHandler(log_handler(log_format))
    root.setLevel(level)
    logging.getLogger("asyncpg.pool").addFilter(_ExpectedOutage())
