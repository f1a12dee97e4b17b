"""nst_cli.progress: the bar on a terminal, plain lines otherwise, resume and divergence in
words, log lines without a prefix."""

import io
import logging

import pytest

from nst_cli import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    """time.monotonic under the test's control."""
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_duration_and_line_by_hand():
    assert [progress.duration(s) for s in (0, 59.4, 75, 3720)] == ["0s", "59s", "1m15s", "1h02m"]
    assert progress.duration(float("nan")) == "?"
    # 12 of 400 at 4 steps/s: 3%, (400 - 12) / 4 = 97 s left.
    text = progress.line(12, 400, 4.0, loss=12345.6)
    assert text == "step 12/400 (3%)  loss 1.235e+04  4 steps/s  ETA 1m37s"


def test_bar_fills_in_proportion():
    text = progress.bar(6, 24, 1.0)
    assert text.startswith("[" + "#" * 6 + "-" * 18 + "]  25% 6/24")
    assert text.endswith("ETA 18s")
    assert progress.bar(30, 24, 1.0).startswith("[" + "#" * 24 + "] 100%")


def test_plain_lines_are_periodic_with_a_measured_rate(clock):
    out = io.StringIO()
    bar = progress.Progress(100, stream=out, every=5.0)
    bar.update(1, loss=3.0)  # the first one: shown at once, no rate yet
    clock[0] += 2.0
    bar.update(21, loss=2.0)  # 2 s later: held back
    clock[0] += 4.0
    bar.update(61, loss=1.0)  # 6 s after the first: 60 steps in 6 s
    clock[0] += 1.0
    bar.update(100)  # the last one: always shown
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[0].startswith("step 1/100 (1%)  loss 3") and lines[0].endswith("ETA ?")
    assert lines[1] == "step 61/100 (61%)  loss 1  10 steps/s  ETA 4s"
    assert lines[2].startswith("step 100/100 (100%)")


def test_terminal_gets_a_bar_redrawn_in_place(clock):
    out = _Terminal()
    with progress.Progress(10, stream=out) as bar:
        for step in range(1, 11):
            clock[0] += 1.0
            bar.update(step, loss=1.0)
        bar.note("level 0 done")
    text = out.getvalue()
    assert text.count("\r") >= 10 and "100% 10/10" in text and "steps/s" in text
    assert "\r\x1b[Klevel 0 done\n" in text


def test_resume_is_said_and_disabled_shows_nothing_else(clock):
    out = io.StringIO()
    bar = progress.Progress(100, start=40, enabled=False, stream=out)
    bar.update(41)
    bar.update(100)
    assert out.getvalue() == "resuming from step 40 of 100\n"


def test_divergence_in_words():
    text = progress.diverged("non-finite loss at step 37 (term style, setting 0)")
    assert text.startswith("the optimization diverged: the loss became infinite or NaN at step 37")
    assert "--lr" in text
    assert progress.diverged("interrupted") == "interrupted"


def test_log_lines_have_no_prefix(capsys):
    from absl import logging as absl_logging

    root = logging.getLogger()
    before, verbosity = list(root.handlers), absl_logging.get_verbosity()
    try:
        progress.plain_logging()
        absl_logging.info("plan: 3 levels")
        absl_logging.warning("low memory")
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
        absl_logging.set_verbosity(verbosity)
    err = capsys.readouterr().err.splitlines()
    assert "plan: 3 levels" in err and "warning: low memory" in err
