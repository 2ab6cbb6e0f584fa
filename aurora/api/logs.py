"""uvicorn's own log records (startup, shutdown, warnings, errors, the optional access log) as
aurora events: the project logs only through :mod:`aurora.events` (DESIGN.md §8).

:func:`uvicorn_log_config` is the ``log_config`` handed to ``uvicorn.Config`` in place of
uvicorn's default (plain text on stderr/stdout): the ``uvicorn`` loggers get one
:class:`EventHandler`, which writes each record as a ``uvicorn.<level>`` event (``logger``,
``message``, and ``exc`` with the traceback when there is one). Records at ``ERROR`` and
above are also printed to stderr as the same JSON line, for an operator watching the
process (unless ``logging.echo`` prints every event there already).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from aurora.events import EventLog, encode


class EventHandler(logging.Handler):
    """A logging handler that emits every record as a ``<prefix>.<level>`` event."""

    def __init__(self, events: EventLog, prefix: str = "uvicorn", stderr_level: int = logging.ERROR) -> None:
        super().__init__()
        self.events = events
        self.prefix = prefix
        self.stderr_level = stderr_level
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                fields["exc"] = self._formatter.formatException(record.exc_info)
            event = self.events.emit(f"{self.prefix}.{record.levelname.lower()}", **fields)
            if record.levelno >= self.stderr_level and not self.events.echo:
                sys.stderr.write(encode(event).decode())
                sys.stderr.flush()
        except Exception:  # logging's contract: a failing handler reports and never raises
            self.handleError(record)


def uvicorn_log_config(events: EventLog) -> dict[str, Any]:
    """``logging.config.dictConfig`` for uvicorn: its loggers write only through ``events``.

    Levels and the access log are set by ``uvicorn.Config`` (``log_level``, ``access_log``).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"events": {"()": EventHandler, "events": events}},
        "loggers": {
            "uvicorn": {"handlers": ["events"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["events"], "level": "INFO", "propagate": False},
        },
    }
