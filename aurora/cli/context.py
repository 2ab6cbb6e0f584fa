"""What every ``auroractl`` handler gets: parsed arguments, settings and the event log."""

from __future__ import annotations

import argparse
from functools import cached_property

from aurora.config import Settings, load_settings
from aurora.events import EventLog, event_log


class CliError(Exception):
    """A user-facing command-line error: printed as one line, exit code 2."""


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._logs: dict[str, EventLog] = {}

    @cached_property
    def settings(self) -> Settings:
        return load_settings(home=self.args.home, extra_files=self.args.config)

    def events(self, service: str = "auroractl") -> EventLog:
        """The event log of ``service`` for this invocation (one run id per invocation)."""
        log = self._logs.get(service)
        if log is None:
            first = next(iter(self._logs.values()), None)
            log = event_log(self.settings, service, run_id=first.run_id if first else None)
            self._logs[service] = log
        return log
