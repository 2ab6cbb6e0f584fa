"""Run reports: one run's logs → tidy frames → figures → one self-contained HTML file.

- :mod:`aurora.report.logs` reads a run directory (:func:`read_run`);
- :mod:`aurora.report.records` validates the order records into one frame;
- :mod:`aurora.report.frames` are the pure transforms (trades, equity and drawdown, decisions by
  reason, reliability, latency and slippage, orders by outcome);
- :mod:`aurora.report.figures` draws them; ``notebooks/03_run_report.ipynb`` calls all of these;
- :func:`write_report` runs that notebook with papermill and exports it with nbconvert.
"""

from __future__ import annotations

from aurora.report.logs import ReportError, RunLogs, read_run
from aurora.report.params import ReportParams
from aurora.report.render import write_report

__all__ = ["ReportError", "ReportParams", "RunLogs", "read_run", "write_report"]
