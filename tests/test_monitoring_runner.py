"""The runner's monitoring options: ``--speed`` paces a replay on the wall clock, ``--linger``
keeps the final metrics up, and both refuse nonsense with the fix (the end-to-end scrape is in
tests/test_prometheus_integration.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora.cli import main
from aurora.core.features import NS
from aurora.runner.pacing import Progress, paced, reported


class FakeClock:
    """Wall clock that only moves when the pacer sleeps, or when the consumer 'works'."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_paced_releases_events_at_the_speed_factor_after_the_warm_up() -> None:
    clock = FakeClock()
    start = 10 * NS
    events = [(0, ts * NS // 10) for ts in (0, 50, 100, 110, 130, 150)]  # 0 s, 5 s: warm-up
    out = []
    for ev in paced(events, 2.0, start, clock=clock, sleep=clock.sleep):
        out.append((ev, clock.now))
    assert [e for e, _ in out] == events  # nothing lost or reordered
    # warm-up passes at once; then 1 s, 3 s, 5 s of market time take 0.5, 1.5, 2.5 s of wall time
    assert [t - 100.0 for _, t in out] == pytest.approx([0, 0, 0, 0.5, 1.5, 2.5])


def test_paced_does_not_pay_back_lateness() -> None:
    clock = FakeClock()
    released = []
    for ev in paced([(0, 0), (0, NS), (0, 2 * NS)], 1.0, 0, clock=clock, sleep=clock.sleep):
        released.append(clock.now)
        if ev[1] == 0:
            clock.now += 1.5  # a consumer slower than real time on the first event
    assert released == pytest.approx([100.0, 101.5, 102.0]) and clock.sleeps == pytest.approx([0.5])


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_paced_refuses_a_speed_that_is_not_a_positive_factor(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be a positive factor"):
        list(paced([(0, 0)], speed, 0))


@pytest.mark.parametrize(("argv", "message"), [
    (["--speed", "0"], "--speed must be a positive factor of market time"),
    (["--speed", "inf"], "--speed must be a positive factor of market time"),
    (["--mode", "paper", "--speed", "2"], "--speed paces a replay; --mode paper runs on the live clock"),
    (["--linger", "5"], "--linger keeps the metrics endpoint up after the run: add --metrics"),
    (["--metrics", "--linger", "-1"], "--linger must be a number of seconds >= 0"),
])
def test_run_refuses_bad_pacing_options_with_the_fix(home: Path, argv: list[str], message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(home), "run", "--symbol", "BTCUSDT", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_reported_passes_every_event_and_reports_market_progress() -> None:
    clock = FakeClock()
    lines: list[str] = []
    events = [(0, i * NS) for i in range(4096)]  # 4096 s of market time from 1970-01-01
    out = []
    for ev in reported(events, Progress(0, 4096 * NS, lines.append, every_s=5.0, clock=clock)):
        out.append(ev)
        clock.now += 0.01  # 10 ms of work per event: a report every ~5 s, clock read per 1024
    assert out == events
    assert lines == ["replay 25%: market 1970-01-01T00:17:03Z, 1,024 events",
                     "replay 50%: market 1970-01-01T00:34:07Z, 2,048 events",
                     "replay 75%: market 1970-01-01T00:51:11Z, 3,072 events",
                     "replay 100%: market 1970-01-01T01:08:15Z, 4,096 events"]


def test_papermill_progress_becomes_one_line_per_cell() -> None:
    from tqdm import tqdm

    from aurora.pipeline.execute import cell_lines

    lines: list[str] = []
    bar = tqdm(total=3, **{"unit": "cell", **cell_lines(lines.append, "[2/2] 02_calibrate_predict_p")})
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert [line.split(" (")[0] for line in lines] == [
        f"[2/2] 02_calibrate_predict_p: cell {i}/3" for i in range(4)]
