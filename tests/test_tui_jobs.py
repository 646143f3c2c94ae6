"""The dashboard's job screens against a real daemon with real runs: deployments (run with
parameters, pause/resume, recent outcomes), flow runs (live log, suspend, resume, cancel),
work pools and queues."""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual.widgets import Input, Log, Static
from tocsin_tui.app import TocsinApp
from tocsin_tui.screens.run_detail import RunDetailScreen
from tocsin_tui.screens.run_parameters import RunParametersScreen, parse_parameters
from tocsin_tui.widgets.list_table import ListTable
from tui_helpers import wait_for

PROJECT = """\
deployments:
  - name: quick
    command: echo "quick $TOCSIN_PARAM_WHO"
    parameters:
      who: nobody
  - name: ticker
    command: >-
      for i in 1 2 3 4 5 6 7 8; do echo "tick $i $TOCSIN_PARAM_WHO"; sleep 0.2; done;
      sleep 60
    parameters:
      who: nobody
    work_pool:
      name: pool-a
      work_queue_name: queue-a
"""


@pytest.fixture
def project(daemon, tmp_path):
    (tmp_path / "tocsin.yaml").write_text(PROJECT)
    out = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(daemon.socket),
                          "deploy", "--file", str(tmp_path / "tocsin.yaml")],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    return daemon


def cells(table: ListTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(app: TocsinApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_run_a_deployment_with_parameters_follow_its_log_live_and_cancel_it(project):
    app = TocsinApp(str(project.socket), autostart=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        table = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the deployments")
        assert [r[0] for r in cells(table)] == ["quick", "ticker"]
        assert cells(table)[1][1] == "pool-a/queue-a"
        await pilot.press("j", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunParametersScreen),
                       what="the parameters dialog")
        field = app.screen.query_one(Input)
        assert parse_parameters(field.value) == {"who": "nobody"}  # the deployment's defaults
        field.value = '{"who": "ana"'
        await pilot.press("enter")
        assert "not valid JSON" in text_of(app, "#run-error")
        field.value = '{"who": "ana"}'
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run")
        log = app.screen.query_one(Log)
        # Live: the early lines show while the run still prints the later ones.
        await wait_for(pilot, lambda: "tick 2 ana" in "\n".join(log.lines), what="live log")
        assert "tick 8" not in "\n".join(log.lines)
        await wait_for(pilot, lambda: "Running" in text_of(app, "#run-timeline"),
                       what="the state timeline")
        await pilot.press("s", "y")
        await wait_for(pilot, lambda: "Suspended" in text_of(app, "#run-summary"),
                       what="the run suspended")
        await pilot.press("r")
        await wait_for(pilot, lambda: "Running" in text_of(app, "#run-summary"),
                       what="the run resumed")
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: "Cancelled" in text_of(app, "#run-summary"),
                       timeout=20, what="the run cancelled")
        timeline = text_of(app, "#run-timeline")
        assert timeline.index("Suspended") < timeline.index("Cancelled")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "⊘" in cells(table)[1][4], what="the outcome mark")
        # Enter on a deployment: its runs.
        await pilot.press("enter")
        runs = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: runs.row_count == 1 and
                       cells(runs)[0][2] == "Cancelled", what="the deployment's runs")


async def test_pause_and_resume_a_deployment_and_a_work_queue(project):
    app = TocsinApp(str(project.socket), autostart=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        table = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the deployments")
        await pilot.press("space")
        await wait_for(pilot, lambda: cells(table)[0][3] == "paused", what="paused")
        with project.client() as c:
            assert c.request("GET", "/deployments/quick")["paused"] is True
        await pilot.press("space")
        await wait_for(pilot, lambda: cells(table)[0][3] == "ready", what="resumed")

        await pilot.press("6")
        pools = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: any("queue-a" in r[0] for r in cells(pools)),
                       what="the pools and queues")
        row = next(i for i, r in enumerate(cells(pools)) if "queue-a" in r[0])
        pools.move_cursor(row=row)
        await pilot.press("space")
        await wait_for(pilot, lambda: cells(pools)[row][4] == "paused", what="queue paused")
        with project.client() as c:
            queues = c.request("GET", "/work_pools/pool-a/queues")
        assert [q["is_paused"] for q in queues if q["name"] == "queue-a"] == [True]
