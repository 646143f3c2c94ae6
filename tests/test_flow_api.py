"""The flow API the guide uses (`flow`, `task`, `get_run_logger`), in this process: a flow
called with no daemon is still a flow run, whose Prefect events go to the spool."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tocsin import flow, get_run_logger, task
from tocsin.errors import TocsinError


@pytest.fixture
def no_daemon(tmp_path, monkeypatch) -> Path:
    """No daemon answers: a directly-called flow spools its events under this home."""
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    monkeypatch.setenv("TOCSIN_SOCKET", str(tmp_path / "nobody.sock"))
    return tmp_path


def spooled(home: Path) -> list[dict]:
    [path] = (home / "spool").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_direct_call_without_daemon_spools_prefects_flow_run_events(no_daemon, capsys):
    @flow(name="adder", log_prints=True)
    def add(a: int, b: int = 2) -> int:
        print("adding")
        return a + b

    assert add(1) == 3
    events = spooled(no_daemon)
    assert [e["event"] for e in events] == ["prefect.flow-run.Pending",
                                            "prefect.flow-run.Running",
                                            "prefect.flow-run.Completed"]
    run_ids = {e["resource"]["prefect.resource.id"] for e in events}
    assert len(run_ids) == 1
    [related] = events[-1]["related"]
    assert related["prefect.resource.role"] == "flow"
    assert related["prefect.resource.name"] == "adder"
    assert events[-1]["resource"]["prefect.run-count"] == "1"
    assert events[1]["follows"] == events[0]["id"]
    out = capsys.readouterr()
    run_name = events[0]["resource"]["prefect.resource.name"]
    assert f"| INFO    | Flow run '{run_name}' - adding" in out.out
    assert "spooled 3 event(s)" in out.err


def test_flow_retries_then_fails_with_awaiting_retry_between(no_daemon):
    calls = []

    @flow(retries=1, retry_delay_seconds=0)
    def flaky() -> None:
        calls.append(1)
        raise ValueError("no luck")

    with pytest.raises(ValueError, match="no luck"):
        flaky()
    assert len(calls) == 2
    assert [e["resource"]["prefect.state-name"] for e in spooled(no_daemon)] == [
        "Pending", "Running", "AwaitingRetry", "Running", "Failed"]
    failed = spooled(no_daemon)[-1]["resource"]
    assert failed["prefect.state-message"] == ("Flow run encountered an exception: "
                                               "ValueError: no luck")
    assert failed["prefect.run-count"] == "2"


def test_timeout_stops_a_flow(no_daemon):
    @flow(timeout_seconds=0.2)
    def slow() -> None:
        time.sleep(5)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="exceeded timeout of 0.2 second"):
        slow()
    assert time.monotonic() - started < 2


def test_tasks_call_submit_map_retries_and_the_run_logger(no_daemon, capsys):
    attempts = []

    @task(retries=2)
    def shaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return x

    @task
    def scale(x: int, factor: int) -> int:
        get_run_logger().info("scaling %s", x)
        return x * factor

    @flow
    def pipeline() -> list:
        first = shaky(7)
        future = scale.submit(first, 10)
        mapped = scale.map([1, 2, 3], factor=2)
        return [future.result(), *mapped.result(), scale(future, 1)]

    assert pipeline() == [70, 2, 4, 6, 70]
    assert attempts == [7, 7, 7]
    out = capsys.readouterr().out
    assert "Task run 'scale-" in out and "scaling 2" in out
    assert out.count("Retry ") == 2


def test_with_options_and_get_run_logger_outside_a_run(no_daemon):
    @flow(name="base", retries=0)
    def f() -> str:
        return "ok"

    other = f.with_options(name="renamed", retries=3)
    assert (other.name, other.retries, f.name, f.retries) == ("renamed", 3, "base", 0)
    assert other() == "ok"
    assert {e["related"][0]["prefect.resource.name"] for e in spooled(no_daemon)} == {"renamed"}
    with pytest.raises(TocsinError, match="outside a flow or task run"):
        get_run_logger()
