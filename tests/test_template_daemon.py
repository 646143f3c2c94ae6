"""Templates in a real daemon: the preview (`POST /templates/render`) renders what the action
sends, Prefect objects included (issue 15), and template bombs through the preview and through
an automation's action leave the daemon small and answering (issue 11, finding 3)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from actions_sinks import HttpSink
from test_jobs import SAMPLES, cli, start, wait_for
from tocsin.client.sync import SyncClient
from tocsin.errors import ApiError

PREVIEWED = ("Run {{ flow_run.name }} is {{ flow_run.state.name }} ({{ flow_run.state.type }}) "
             "of {{ flow.name }} in {{ deployment.name }} on {{ work_pool.name }}/"
             "{{ work_queue.name }} | {{ flow_run|ui_url }} | {{ deployment|ui_url }} | "
             "{% for label, value in event.resource %}{{ label }};{% endfor %}")


def scheduled_run(d) -> tuple[dict, dict]:
    """A new run of the sample project's upstream_deployment, and its Scheduled event."""
    assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"),
               "-n", "upstream_deployment").returncode == 0
    run = start(d, "upstream_deployment")
    with d.client() as c:
        scheduled = wait_for(lambda: c.filter_events(
            names=["prefect.flow-run.Scheduled"],
            resource={"prefect.resource.id": f"prefect.flow-run.{run['id']}"})["events"])[0]
    return run, scheduled


def test_preview_renders_prefect_objects_exactly_as_the_action_sends_them(daemon):
    sink = HttpSink().start()
    try:
        with daemon.client() as c:
            c.request("POST", "/automations", {
                "name": "scheduled runs", "trigger": {
                    "type": "event", "expect": ["prefect.flow-run.Scheduled"],
                    "match_related": {"prefect.resource.role": "deployment",
                                      "prefect.resource.name": "upstream_deployment"}},
                "actions": [{"type": "call-webhook", "url": f"{sink.url}/hook",
                             "payload": PREVIEWED}]})
        run, scheduled = scheduled_run(daemon)
        sent = sink.wait_for(1, timeout=20)[0].body.decode()
        with daemon.client() as c:
            previewed = c.request("POST", "/templates/render", {
                "template": PREVIEWED, "event_id": scheduled["id"]})["output"]
        assert previewed == sent
        assert sent.startswith(f"Run {run['name']} is Scheduled (SCHEDULED) of ")
        assert f"in upstream_deployment on local/default | tocsin run inspect {run['id']} | " \
               f"tocsin deployment inspect {run['deployment_id']} | " \
               "prefect.resource.id;prefect.resource.name;" in sent
    finally:
        sink.stop()


BOMBS = [
    "{{ 'x'.ljust(10**9) }}",
    "{{ '%0999999999d'|format(1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ' '.join(['x'] * 999999) * 999 }}",
    "{{ lipsum(10**6) }}",
    "{{ 1|humanize_scientific(precision=10**9) }}",
]
# Many small steps for longer than the 2 s limit: only the deadline stops this one.
SLOW = ("{% for i in event.payload.xs %}{% for j in event.payload.xs %}"
        "{% if (i + j)|abs|int|round < 0 %}x{% endif %}{% endfor %}{% endfor %}")
SLOW_EVENT = {"event": "bomb", "resource": {"prefect.resource.id": "bomb"},
              "payload": {"xs": list(range(5000))}}


class HealthProbe:
    """Asks /health every 20 ms on its own thread and keeps how long each answer took."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with SyncClient(self.socket, timeout=30) as c:
            while not self._stop.is_set():
                started = time.monotonic()
                c.health()
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.02)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _preview(socket: Path, template: str, event: dict | None = None) -> ApiError:
    body: dict = {"template": template}
    if event is not None:
        body["event"] = event
    with SyncClient(socket, timeout=30) as c, pytest.raises(ApiError) as info:
        c.request("POST", "/templates/render", body)
    return info.value


def test_template_bombs_leave_the_daemon_small_and_answering(daemon):
    sink = HttpSink().start()
    try:
        with daemon.client() as c:
            c.request("POST", "/automations", {
                "name": "bombs", "trigger": {"type": "event", "expect": ["bomb"]},
                "actions": [{"type": "call-webhook", "url": f"{sink.url}/hook", "payload": b}
                            for b in [*BOMBS, SLOW]]})
        errors: list[ApiError] = []
        with HealthProbe(daemon.socket) as probe:
            threads = [threading.Thread(
                target=lambda b=b: errors.append(_preview(daemon.socket, b))) for b in BOMBS]
            threads.append(threading.Thread(
                target=lambda: errors.append(_preview(daemon.socket, SLOW, SLOW_EVENT))))
            started = time.monotonic()
            for t in threads:
                t.start()
            with daemon.client() as c:
                c.emit([SLOW_EVENT])
            for t in threads:
                t.join(30)
            elapsed = time.monotonic() - started

            def failed() -> list[dict]:
                with daemon.client() as c:
                    return c.filter_events(names=["prefect.automation.action.failed"],
                                           limit=50)["events"]
            reasons = [e["payload"]["reason"] for e in wait_for(
                lambda: len(failed()) >= len(BOMBS) + 1 and failed(), timeout=60)]
        assert len(errors) == len(BOMBS) + 1
        assert all(e.status == 422 for e in errors), [(e.status, e.detail) for e in errors]
        assert sum("longer than 2 s" in str(e.detail) for e in errors) == 1
        assert all("Template rendering failed" in r for r in reasons), reasons
        assert sum("refused before it was built" in r for r in reasons) == len(BOMBS)
        assert sink.received == []
        assert elapsed < 20
        assert peak_rss_mb(daemon.proc.pid) < 300
        # 100 ms is the target (tests/bench/template_bombs.py measures it); on a machine
        # shared by many test runs, allow for scheduling noise, but not for a stall.
        assert probe.worst < 0.5, probe.worst
    finally:
        sink.stop()


def test_the_guides_flow_run_notification_renders_as_prefect(daemon):
    """The body Prefect's docs and `prefect automation` use for flow-run notifications."""
    body = ("Flow run {{ flow.name }}/{{ flow_run.name }} observed in state "
            "`{{ flow_run.state.name }}` at {{ flow_run.state.timestamp }}.\n"
            "Flow ID: {{ flow_run.flow_id }}\nFlow run ID: {{ flow_run.id }}\n"
            "Flow run URL: {{ flow_run|ui_url }}\nState message: {{ flow_run.state.message }}\n"
            "{{ flow_run.state.type.value }} {{ flow_run.state.type }} "
            "{{ flow_run.state.timestamp.isoformat() "
            "== event.resource['prefect.state-timestamp'] }}")
    run, scheduled = scheduled_run(daemon)
    with daemon.client() as c:
        out = c.request("POST", "/templates/render",
                        {"template": body, "event_id": scheduled["id"]})["output"]
    stamp = scheduled["resource"]["prefect.state-timestamp"]
    assert out == (
        f"Flow run {run['flow_name']}/{run['name']} observed in state `Scheduled` at "
        f"{datetime.fromisoformat(stamp)}.\nFlow ID: {run['flow_id']}\nFlow run ID: {run['id']}\n"
        f"Flow run URL: tocsin run inspect {run['id']}\nState message: \n"
        "SCHEDULED SCHEDULED True")


def test_template_render_cli_renders_prefect_objects_in_the_running_daemon(daemon, tmp_path):
    run, scheduled = scheduled_run(daemon)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(scheduled))
    template = tmp_path / "t.j2"
    template.write_text("Run {{ flow_run.name }} of {{ deployment.name }}\n")
    done = cli(daemon, "template", "render", str(template), "--event", str(event))
    assert (done.returncode, done.stdout) == (0, f"Run {run['name']} of upstream_deployment\n")
    template.write_text("{{ flow_run.name }}\n{{ 'x'.ljust(10**9) }}")
    done = cli(daemon, "template", "render", str(template), "--event", str(event))
    assert done.returncode == 65
    assert "line 2: `.ljust()` would be longer than 1000000 characters" in done.stderr
    daemon.stop()
    template.write_text("Run [{{ flow_run.name }}]\n")
    done = cli(daemon, "template", "render", str(template), "--event", str(event))
    assert (done.returncode, done.stdout) == (0, "Run []\n")
    assert "no daemon is running, so flow_run render empty" in done.stderr


def test_run_deployment_runs_with_rendered_parameters_and_job_variables(daemon):
    assert cli(daemon, "deploy", "-f", str(SAMPLES / "tocsin.yaml"),
               "-n", "upstream_deployment").returncode == 0
    with daemon.client() as c:
        dep = c.request("GET", "/deployments/upstream_deployment")
        c.request("POST", "/automations", {
            "name": "rerun", "trigger": {"type": "event", "expect": ["order.created"],
                                         "match": {"prefect.resource.id": "order.*"}},
            "actions": [{"type": "run-deployment", "source": "selected",
                         "deployment_id": dep["id"], "parameters": None,
                         "job_variables": {"env": {"ORDER": "{{ event.resource.id }}"}}}]})
        c.emit([{"event": "order.created", "resource": {"prefect.resource.id": "order.42"}}])

    def first_run() -> dict | None:
        with daemon.client() as c:
            runs = c.request("GET", "/flow_runs?deployment=upstream_deployment")
        return runs[0] if runs else None

    run = wait_for(first_run)
    assert run["parameters"] == dep["parameters"]  # null parameters: the deployment's own
    assert run["job_variables"]["env"] == {"ORDER": "order.42"}


def test_a_webhook_request_that_makes_its_template_slow_does_not_stall_the_daemon(
        make_daemon, tmp_path):
    """The template is the owner's, the body an outsider's: a body that makes the template
    loop for the whole 2 s limit renders beside the event loop, not on it."""
    from test_webhooks import create, post

    config = tmp_path / "tocsin.toml"
    config.write_text('[webhooks]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n')
    d = make_daemon(config=config).start()
    url = create(d, "slow", '{"event": "hook", "resource": {"prefect.resource.id": "h"}}'
                 "{% for i in body.xs %}{% for j in body.xs %}{% if (i + j)|abs < 0 %}x"
                 "{% endif %}{% endfor %}{% endfor %}", tmp_path)
    with HealthProbe(d.socket) as probe:
        time.sleep(0.2)
        status, answer = post(url, json.dumps({"xs": list(range(5000))}).encode())
    assert status == 400 and "longer than 2 s" in answer["detail"]
    assert probe.worst < 0.5, probe.worst
