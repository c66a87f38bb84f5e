"""Long work reports its stages: on stderr for a terminal, else through logging; quick work is silent."""

import io
import itertools
import logging
import sys

import pytest

import symgrad as sg
from symgrad import progress

x, y = sg.symbols("x y")
COMPILE_STAGES = ["signature", "rewrite", "differentiate", "emit", "exec"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_delay(monkeypatch):
    """Every piece of work counts as long."""
    monkeypatch.setattr(progress, "DELAY", 0.0)


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.INFO, logger="symgrad")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "symgrad"]


def test_a_long_compile_logs_each_stage_with_what_it_made(no_delay, records):
    sg.compile(sg.tanh(x * y) + x**2, wrt=[x, y], name="loss")
    lines = records()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == COMPILE_STAGES
    assert all(line.startswith("compile loss: ") and line.endswith(" in all") for line in lines)
    assert "(6 nodes)" in lines[0] and "backward nodes" in lines[2] and "lines)" in lines[3]


def test_a_quick_compile_reports_nothing(records, capsys):
    sg.compile(sg.tanh(x * y), wrt=[x, y])
    assert records() == [] and capsys.readouterr().err == ""


def test_on_a_terminal_the_stages_are_lines_on_stderr_and_not_log_records(no_delay, records, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sg.compile(x * y, wrt=[x, y])
    lines = terminal.getvalue().splitlines()
    assert [line.split(": ")[2].split(" ")[0] for line in lines] == COMPILE_STAGES
    assert all(line.startswith("symgrad: compile f: ") for line in lines)
    assert records() == []


def test_off_a_terminal_nothing_is_printed_unless_logging_is_configured(no_delay, capsys):
    sg.compile(x * y, wrt=[x, y])
    assert capsys.readouterr().err == ""


def test_stages_ended_before_the_delay_are_reported_once_it_passes(monkeypatch, records):
    monkeypatch.setattr(progress, "DELAY", 10.0)
    monkeypatch.setattr(progress, "_clock", itertools.count(0.0, 4.0).__next__)  # 4 s a stage
    with progress.tracking("work"):
        progress.step("a")
        progress.step("b", "2 things")
        assert records() == []
        progress.step("c")
    assert records() == ["work: a 4.00 s", "work: b 4.00 s (2 things)", "work: c 4.00 s, 12 s in all"]


def test_a_step_outside_tracked_work_does_nothing(no_delay, records):
    progress.step("stray")
    assert records() == []


def test_verify_reports_each_row(no_delay, records):
    sg.verify(x * y, [x, y])
    stages = [line.split(": ")[1] for line in records() if line.startswith("verify x * y: ")]
    rows = [stage for stage in stages if stage.startswith("row ")]
    assert [r.split(" ")[:3] for r in rows] == [["row", "1/3", "value"], ["row", "2/3", "d/dx"], ["row", "3/3", "d/dy"]]
    assert all("(equal, ok)" in r for r in rows)
    assert stages[0].startswith("compile ")
