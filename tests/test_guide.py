"""Prefect's Automations guide, verbatim but for `prefect` -> `tocsin`: each example under
samples/guide/ run end to end against a real daemon, as a user would run it (the webhook
example is tests/test_webhooks.py::test_prefects_documented_example_works_as_written)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from actions_sinks import SmtpSink
from daemon_proc import DaemonProcess
from prefect_env import free_port
from test_jobs import FINAL, TOCSIN, cli, wait_for, wait_state

GUIDE = Path(__file__).parent.parent / "samples" / "guide"
API = GUIDE / "api-example"


def env_for(d: DaemonProcess, **extra: str) -> dict[str, str]:
    return {**os.environ, "TOCSIN_SOCKET": str(d.socket), "TOCSIN_HOME": str(d.home), **extra}


def python(d: DaemonProcess, script: Path, *args: str, **extra: str
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], cwd=script.parent,
                          env=env_for(d, **extra), capture_output=True, text=True, timeout=60,
                          check=False)


def tocsin_in(d: DaemonProcess, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOCSIN, "--socket", str(d.socket), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=30, check=False)


def request(d: DaemonProcess, method: str, path: str, body: object = None) -> object:
    with d.client() as c:
        return c.request(method, path, body)


def automations(d: DaemonProcess) -> list[dict]:
    return request(d, "POST", "/automations/filter", {})


def runs(d: DaemonProcess, deployment: str | None = None) -> list[dict]:
    return request(d, "GET", f"/flow_runs?deployment={deployment}" if deployment else "/flow_runs")


def emit(d: DaemonProcess, name: str, resource_id: str) -> None:
    with d.client() as c:
        c.emit([{"event": name, "resource": {"prefect.resource.id": resource_id}}])


def events_named(d: DaemonProcess, name: str) -> list[dict]:
    with d.client() as c:
        return c.filter_events(names=[name], limit=100, order="oldest")["events"]


class Served:
    """A guide script that serves deployments, running until stopped; its output is kept."""

    def __init__(self, d: DaemonProcess, script: Path) -> None:
        self.out_path = d.dir / f"{script.stem}.out"
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(script)], cwd=script.parent,
                                         env=env_for(d), stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)


@pytest.fixture
def served(daemon) -> Iterator:
    started: list[Served] = []

    def serve(script: Path) -> Served:
        started.append(Served(daemon, script))
        return started[-1]

    yield serve
    for s in started:
        s.stop()


# -- automations from Python, REST and YAML ------------------------------------------------

def test_woodchonk_automation_created_from_python_and_read_back(daemon):
    out = python(daemon, GUIDE / "create_automation.py")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("name='woodchonk'") == 2
    [auto] = automations(daemon)
    assert auto["name"] == "woodchonk" and auto["enabled"] is True
    assert auto["trigger"]["expect"] == ["animal.walked"]
    assert auto["trigger"]["match"] == {"genus": "Marmota", "species": "monax"}
    assert (auto["trigger"]["posture"], auto["trigger"]["threshold"]) == ("Reactive", 3)
    assert auto["actions"] == [{"type": "cancel-flow-run"}]


def test_rest_and_yaml_create_or_update_helpers_through_the_cloud_url(make_daemon, tmp_path):
    """The guide's requests to Prefect Cloud's workspace URL, with only the host changed to
    tocsin's [prefect_api] listener; its bearer key checked, since one is configured."""
    port = free_port()
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[prefect_api]\nenabled = true\nport = {port}\n'
                      'api_key_env = "TOCSIN_PREFECT_KEY"\n')
    daemon = make_daemon(config=config, env={"TOCSIN_PREFECT_KEY": "pnu_guide"}).start()
    cloud = {"TOCSIN_PREFECT_API_PORT": str(port), "PREFECT_API_KEY": "pnu_guide",
             "PREFECT_ACCOUNT_ID": "0ff44498-d380-4d7b-bd68-9b52da03823f",
             "PREFECT_WORKSPACE_ID": "c2c6e4e3-8a11-4b23-b0c4-3b5e9a7f1b0d"}

    deployed = tocsin_in(daemon, API, "deploy")
    assert deployed.returncode == 0, deployed.stderr
    assert "set_working_directory /Users/src/prefect/Playground/automations-guide does not " \
           "exist here" in deployed.stderr
    dep = json.loads(cli(daemon, "deployment", "inspect", "build-names/deploy-build-names").stdout)
    assert dep["work_pool_name"] == "tutorial-process-pool" and dep["path"] == str(API)
    again = python(daemon, API / "deploy_build_names.py")  # the .deploy tab: the same deployment
    assert again.returncode == 0 and "my_registry/my_image:my_image_tag" in again.stderr
    assert json.loads(cli(daemon, "deployment", "inspect", dep["id"]).stdout)["job_variables"] == {
        "image": "my_registry/my_image:my_image_tag"}

    wrong_key = python(daemon, API / "create_or_update_automation.py",
                       **{**cloud, "PREFECT_API_KEY": "pnu_wrong"})
    assert wrong_key.returncode != 0 and "401" in wrong_key.stderr
    out = python(daemon, API / "create_event_driven_automation.py", dep["id"], **cloud)
    assert out.returncode == 0, out.stderr
    [auto] = automations(daemon)
    assert f"'id': '{auto['id']}'" in out.stdout  # the guide prints the created automation
    assert auto["name"] == "Event Driven Redeploy"
    assert auto["enabled"] is True  # the guide's "true", coerced as Prefect's schema does
    assert auto["actions"][0]["deployment_id"] == dep["id"]

    first = python(daemon, API / "create_or_update_automation.py", **cloud)
    again = python(daemon, API / "create_or_update_automation.py", **cloud)
    assert first.stdout == "Creating automation 'Cancel long running flows'\n", first.stderr
    assert again.stdout == ("Automation 'Cancel long running flows' already exists and will "
                            "be updated\n"), again.stderr
    names = sorted(a["name"] for a in automations(daemon))
    assert names == ["Cancel long running flows", "Event Driven Redeploy"]


# -- deployment triggers: prefect.yaml, --trigger, .serve, .deploy -------------------------

def test_guide_prefect_yaml_deployed_by_tocsin_deploy_and_its_compound_trigger_fires(daemon):
    out = tocsin_in(daemon, GUIDE, "deploy")  # no tocsin.yaml here: prefect.yaml is used
    assert out.returncode == 0, out.stderr
    [auto] = automations(daemon)
    assert auto["name"] == "my-deployment__automation_1"  # Prefect's naming rule
    emit(daemon, "external.resource.pinged", "my.external.resource")
    time.sleep(0.3)
    assert runs(daemon) == []  # require: all — one of two is not enough
    emit(daemon, "external.resource.replied", "my.external.resource")
    [run] = wait_for(lambda: runs(daemon, "decorated-fn/my-deployment"))
    run = wait_state(daemon, run["id"], *FINAL)
    assert run["state"]["name"] == "Completed", cli(daemon, "run", "logs", run["id"]).stdout
    assert run["work_pool_name"] == "my-work-pool"
    assert "external.resource.replied" in str(run["parameters"]["param_1"])


def test_trigger_file_with_a_triggers_list_and_deployment_delete_and_ambiguous_names(
        daemon, tmp_path):
    out = tocsin_in(daemon, GUIDE, "deploy", "-f", "event-trigger.yaml", "-n", "my-deployment",
                    "--trigger", "triggers.yaml")
    assert out.returncode == 0, out.stderr
    autos = sorted(automations(daemon), key=lambda a: a["name"])
    assert [a["name"] for a in autos] == ["my-deployment__automation_1",
                                          "my-deployment__automation_2"]
    assert [a["trigger"]["expect"] for a in autos] == [["external.resource.pinged"],
                                                       ["some.other.event"]]

    other = tmp_path / "tocsin.yaml"  # a second flow with a deployment of the same name
    other.write_text(f"deployments:\n  - name: my-deployment\n"
                     f"    entrypoint: {API / 'test-automations.py'}:build_names\n")
    assert tocsin_in(daemon, tmp_path, "deploy").returncode == 0
    refused = cli(daemon, "deployment", "run", "my-deployment")
    assert refused.returncode == 65
    assert "build-names/my-deployment, decorated-fn/my-deployment" in refused.stderr

    assert cli(daemon, "deployment", "delete", "decorated-fn/my-deployment").returncode == 0
    assert automations(daemon) == []  # its trigger automations went with it


def test_serve_trigger_runs_shows_output_and_stops_queuing_runs_once_serve_stops(daemon, served):
    serving = served(GUIDE / "serve_trigger.py")
    [auto] = wait_for(lambda: automations(daemon))
    assert auto["name"] == "my-deployment__automation_1"  # the same rule as deploy's
    emit(daemon, "external.resource.pinged", "my.external.resource")
    [run] = wait_for(lambda: runs(daemon, "decorated-fn/my-deployment"))
    run = wait_state(daemon, run["id"], *FINAL)
    assert run["state"]["name"] == "Completed"
    # The run's print (log_prints) shows in the serve terminal, as in Prefect.
    wait_for(lambda: f"Flow run '{run['name']}' - " in serving.output())
    wait_for(lambda: "exited with status code 0" in serving.output())

    serving.stop()
    wait_for(lambda: events_named(daemon, "prefect.deployment.not-ready"))
    emit(daemon, "external.resource.pinged", "my.external.resource")
    [failed] = wait_for(lambda: events_named(daemon, "prefect.automation.action.failed"))
    assert "not ready" in failed["payload"]["reason"]
    assert len(runs(daemon)) == 1  # no run queued that nobody would start


def test_deploy_with_image_and_compound_trigger_runs_here(daemon):
    out = python(daemon, GUIDE / "deploy_compound.py")
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("my-image-registry/my-image:my-tag") == 1
    assert "use this machine's environment" in out.stderr
    [auto] = automations(daemon)
    assert auto["name"] == "my-compound-trigger"
    dep = json.loads(cli(daemon, "deployment", "inspect", "decorated-fn/my-deployment").stdout)
    assert dep["work_pool_name"] == "my-work-pool"
    assert dep["job_variables"]["image"] == "my-image-registry/my-image:my-tag"
    emit(daemon, "external.resource.pinged", "my.external.resource")
    emit(daemon, "external.resource.replied", "my.external.resource")
    [run] = wait_for(lambda: runs(daemon, dep["id"]))
    assert wait_state(daemon, run["id"], *FINAL)["state"]["name"] == "Completed"


# -- the examples ---------------------------------------------------------------------------

def test_upstream_completion_runs_the_downstream_deployment(daemon, served):
    served(GUIDE / "event_driven_deployments.py")
    wait_for(lambda: automations(daemon))
    out = cli(daemon, "deployment", "run", "upstream-flow/upstream_deployment")
    assert out.returncode == 0, out.stderr
    [down] = wait_for(lambda: runs(daemon, "downstream-flow/downstream_deployment"), timeout=30)
    assert wait_state(daemon, down["id"], *FINAL)["state"]["name"] == "Completed"
    assert "downstream flow" in cli(daemon, "run", "logs", down["id"]).stdout


def test_order_example_runs_once_for_user_123(daemon, served):
    served(GUIDE / "post_order_deployment.py")
    wait_for(lambda: automations(daemon))
    out = python(daemon, GUIDE / "simulate_events.py")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["123 emitted order.created", "456 emitted order.created",
                                       "123 emitted order.complete"]
    [run] = wait_for(lambda: runs(daemon, "post-order-complete/post-order-complete"))
    run = wait_state(daemon, run["id"], *FINAL)
    assert run["state"]["name"] == "Completed" and run["parameters"] == {"user_id": "123"}
    time.sleep(0.5)
    assert len(runs(daemon)) == 1


class _RandomUser(http.server.BaseHTTPRequestHandler):
    """randomuser.me's answer, on 127.0.0.1."""

    def do_GET(self) -> None:
        body = json.dumps({"results": [{"name": {"first": "Ada", "last": "Lovelace"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _text(message) -> str:
    part = message.get_payload(0) if message.is_multipart() else message
    return part.get_payload(decode=True).decode()


def test_flow_called_directly_fires_the_email_notification(daemon):
    """The guide's "no deployment created" tip: a flow run executed locally fires a flow-run
    state trigger that emails, with the guide's templates."""
    smtp = SmtpSink().start()
    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RandomUser)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        url = (f"mailto://example.com:{smtp.port}?smtp=127.0.0.1&to=me@example.com"
               "&from=tocsin@example.com&mode=insecure")
        assert cli(daemon, "block", "create", "email", "--url", url).returncode == 0
        out = cli(daemon, "automation", "apply", "-f", str(API / "notify-on-completion.yaml"))
        assert out.returncode == 0, out.stderr

        out = python(daemon, API / "test-automations.py",
                     RANDOMUSER_URL=f"http://127.0.0.1:{api.server_port}/")
        assert out.returncode == 0, out.stderr
        assert "Built 10 names" in out.stdout and "Task run 'fetch-" in out.stdout
        [run] = runs(daemon)
        assert run["flow_name"] == "build-names" and run["deployment_id"] is None
        assert run["state"]["name"] == "Completed" and run["parameters"] == {"num": 10}
        names = [e["event"] for e in request(daemon, "POST", "/events/filter", {
            "resource": {"prefect.resource.id": f"prefect.flow-run.{run['id']}"},
            "order": "oldest"})["events"]]
        assert names == ["prefect.flow-run.Pending", "prefect.flow-run.Running",
                         "prefect.flow-run.Completed"]
        assert "Cleaned results" in cli(daemon, "run", "logs", run["id"]).stdout

        message = next(m for m in smtp.wait_for(1, timeout=20)
                       if m["Subject"].startswith("Flow run"))
        assert message["Subject"] == f"Flow run {run['name']} completed"
        body = _text(message)
        assert f"Flow run {run['name']} entered state Completed." in body
        assert f"Flow Run ID: {run['id']}" in body and f"Flow ID: {run['flow_id']}" in body

        # The guide's second template iterates a resource as (label, value) pairs.
        details = next(m for m in smtp.wait_for(2, timeout=20)
                       if m["Subject"] == "Event details")
        text = _text(details)
        assert f"prefect.resource.id: prefect.flow-run.{run['id']}" in text
        assert "prefect.state-name: Completed" in text
        assert "Role: flow" in text and "prefect.resource.name: build-names" in text
    finally:
        api.shutdown()
        smtp.stop()


# -- Prefect's reading of files and values, without a daemon --------------------------------

def test_prefect_init_style_file_nulls_schedules_and_pull_steps_are_read_as_prefect_does(
        tmp_path, capsys):
    from tocsin.jobs.project import check_spec, load_project

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "flows.py").write_text("def etl():\n    pass\n")
    project = tmp_path / "prefect.yaml"
    project.write_text(
        "prefect-version: 3.0.0\nname: p\nbuild: null\npush: null\n"
        "pull:\n- prefect.deployments.steps.git_clone:\n    repository: https://example.com/r\n"
        "- prefect.deployments.steps.set_working_directory:\n    directory: src\n"
        "deployments:\n- name: nightly\n  version: null\n  tags: []\n  description: null\n"
        "  schedule: {}\n  concurrency_limit: null\n  flow_name: null\n"
        "  entrypoint: flows.py:etl\n  parameters: {day: null}\n  enforce_parameter_schema: true\n"
        "  work_pool: {name: null, work_queue_name: null, job_variables: {}}\n"
        "  schedules:\n  - cron: '0 9 1 * MON'\n    timezone: null\n    day_or: false\n"
        "    active: 'true'\n")
    [spec] = load_project(project)
    assert spec["path"] == str(tmp_path / "src")  # set_working_directory honoured
    assert "git_clone ignored" in capsys.readouterr().err
    dep = check_spec(spec)
    assert dep.flow_name == "etl" and dep.description == ""
    assert dep.parameters == {"day": None}  # a null parameter is a value, not "the default"
    [schedule] = dep.schedules
    assert (schedule.cron, schedule.timezone, schedule.day_or, schedule.active) == (
        "0 9 1 * MON", "UTC", False, True)


def test_day_or_false_means_both_day_fields_must_match():
    from datetime import UTC, datetime

    from tocsin.jobs.model import Schedule
    from tocsin.jobs.scheduler import times_between

    start, end = datetime(2026, 5, 20, tzinfo=UTC), datetime(2026, 6, 12, tzinfo=UTC)

    def days(schedule: Schedule) -> list[str]:
        return [t.date().isoformat() for t in times_between(schedule, start, end)]

    assert days(Schedule(cron="0 9 1 * MON", day_or=False)) == ["2026-06-01"]  # Monday the 1st
    assert days(Schedule(cron="0 9 1 * MON")) == ["2026-05-25", "2026-06-01", "2026-06-08"]


def test_rrule_schedules_in_their_time_zone():
    from datetime import UTC, datetime

    from tocsin.jobs.model import Schedule
    from tocsin.jobs.scheduler import check_schedule, next_time, times_between

    paris = Schedule(rrule="FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
                     timezone="Europe/Paris")
    assert check_schedule(paris) is None
    start, end = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 11, tzinfo=UTC)
    assert [t.isoformat() for t in times_between(paris, start, end)] == [
        "2026-06-01T07:00:00+00:00", "2026-06-03T07:00:00+00:00", "2026-06-08T07:00:00+00:00",
        "2026-06-10T07:00:00+00:00"]
    assert next_time(paris, end).isoformat() == "2026-06-15T07:00:00+00:00"
    assert "not a valid RFC 5545 rule" in check_schedule(Schedule(rrule="FREQ=SOMETIMES"))
    assert "exactly one of" in check_schedule(Schedule(rrule="FREQ=DAILY", cron="* * * * *"))


def test_trigger_values_a_list_an_object_with_triggers_or_one_trigger():
    from tocsin.jobs.project import file_triggers

    one = {"expect": ["a"]}
    assert file_triggers([one]) == [one]
    assert file_triggers({"triggers": [one, one]}) == [one, one]
    sequence = {"type": "sequence", "triggers": [one]}
    assert file_triggers(sequence) == [sequence]


@pytest.mark.parametrize(("field", "value", "stored"), [
    ("enabled", "true", True), ("enabled", "off", False), ("threshold", "3", 3),
    ("threshold", 3.0, 3)])
def test_values_prefect_coerces_are_coerced(field, value, stored):
    from tocsin.automations.model import parse_automation

    data = {"name": "n", "trigger": {"expect": ["x"]}, "actions": []}
    (data if field == "enabled" else data["trigger"])[field] = value
    auto = parse_automation(data)
    assert getattr(auto if field == "enabled" else auto.trigger, field) == stored


def test_schedule_after_takes_the_iso_durations_prefects_docs_use():
    from tocsin.actions.model import parse_action

    def after(value: object) -> float:
        return parse_action({"type": "run-deployment", "source": "inferred",
                             "schedule_after": value}).schedule_after_seconds

    assert (after("PT2H"), after("PT30M"), after(7200), after("90s")) == (7200, 1800, 7200, 90)


@pytest.mark.parametrize(("field", "value"), [("enabled", "maybe"), ("threshold", "3.5"),
                                              ("threshold", True)])
def test_values_prefect_refuses_are_refused(field, value):
    from tocsin.automations.model import parse_automation
    from tocsin.errors import InvalidInput

    data = {"name": "n", "trigger": {"expect": ["x"]}, "actions": []}
    (data if field == "enabled" else data["trigger"])[field] = value
    with pytest.raises(InvalidInput) as info:
        parse_automation(data)
    assert [p for p, _ in info.value.errors] == [field if field == "enabled"
                                                 else f"trigger.{field}"]


def test_prefect_module_paths_and_objects_send_the_json_their_dicts_would():
    from datetime import timedelta

    from tocsin.actions.model import parse_action
    from tocsin.automations import Automation
    from tocsin.events import DeploymentEventTrigger as FromEvents
    from tocsin.events.actions import ChangeFlowRunState, RunDeployment
    from tocsin.events.schemas.automations import (
        EventTrigger,
        MetricTrigger,
        MetricTriggerQuery,
        Posture,
        ResourceSpecification,
    )
    from tocsin.events.schemas.deployment_triggers import DeploymentEventTrigger
    from tocsin.events.schemas.events import Event

    import tocsin.events

    assert DeploymentEventTrigger is FromEvents and Event.__name__ == "Event"
    assert tocsin.events.Posture is Posture and tocsin.events.RunDeployment is RunDeployment
    trigger = EventTrigger(expect={"b", "a"}, match=ResourceSpecification({"k": "v"}),
                           posture=Posture.Proactive, within=timedelta(minutes=2))
    assert trigger.to_dict() == {"type": "event", "expect": ["a", "b"], "match": {"k": "v"},
                                 "posture": "Proactive", "within": 120.0}
    metric = MetricTrigger(metric=MetricTriggerQuery(name="duration", threshold=1,
                                                     operator=">", range=timedelta(hours=1)))
    assert metric.to_dict()["metric"]["range"] == 3600.0
    action = RunDeployment(source="selected", deployment_id="6f1e3d4c-0000-4000-8000-000000000000",
                           parameters={"n": 1})
    auto = Automation(name="a", trigger=trigger, actions=[action, ChangeFlowRunState(state="FAILED")])
    body = auto._body()
    assert body["trigger"] == trigger.to_dict()
    assert [parse_action(a).to_dict() for a in body["actions"]] == body["actions"]
    assert body["actions"][1] == {"type": "change-flow-run-state", "state": "FAILED",
                                  "name": None, "message": None, "force": False}
