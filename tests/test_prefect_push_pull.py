"""`tocsin automation push --to` / `pull --from` against a real Prefect server: every sample
automation round-trips with its blocks mapped by name, and what Prefect cannot hold (or holds
twice) is refused with the reason."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from prefect_env import PREFECT_TEST_TIMEOUT, PrefectServer, run_prefect
from tocsin.automations.model import definition_key as definition_text
from tocsin.prefect.transfer import Refused, for_prefect, for_tocsin

SAMPLES = Path(__file__).parent.parent / "samples"
SAMPLE_FILES = [*sorted((SAMPLES / "automations").glob("*.yaml")),
                SAMPLES / "actions" / "failed-run-alerts.yaml"]

pytestmark = pytest.mark.timeout(PREFECT_TEST_TIMEOUT)


def tocsin(d, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                           *args], capture_output=True, text=True, timeout=60)


def make_blocks(d) -> None:
    for args in (("ops", "--url", "json://127.0.0.1:9/ops"),
                 ("incidents", "--webhook", "http://127.0.0.1:9/incidents")):
        done = tocsin(d, "block", "create", *args)
        assert done.returncode == 0, done.stderr


def definition(automation: dict) -> dict:
    """What an automation means, without what each side assigns (ids, timestamps)."""
    return json.loads(definition_text(automation))


def test_every_sample_round_trips_through_prefect_with_blocks_mapped_by_name(
        make_daemon, tmp_path, prefect_py, prefect_server: PrefectServer):
    # Blocks of the same names on the Prefect side.
    script = textwrap.dedent("""
        from prefect.blocks.notifications import SlackWebhook
        from prefect.blocks.webhook import Webhook
        SlackWebhook(url="https://hooks.slack.com/services/T0/B0/x").save("ops", overwrite=True)
        Webhook(url="http://127.0.0.1:9/incidents").save("incidents", overwrite=True)
    """)
    done = run_prefect(prefect_py, tmp_path, prefect_server.api_url, script=script)
    assert done.returncode == 0, done.stderr
    docs = {d["name"]: d["id"] for d in prefect_server.request(
        "POST", "/block_documents/filter", {})}

    here = make_daemon().start()
    make_blocks(here)
    for sample in SAMPLE_FILES:
        done = tocsin(here, "automation", "apply", "-f", str(sample))
        assert done.returncode == 0, done.stderr

    # The sample's inline webhook url cannot go: Prefect calls webhooks through blocks only.
    pushed = tocsin(here, "automation", "push", "--to", prefect_server.api_url, "--json")
    assert pushed.returncode == 1
    results = {r["name"]: r for r in json.loads(pushed.stdout)}
    assert results["failed-run-alerts"]["result"] == "refused"
    assert "inline url" in results["failed-run-alerts"]["reason"]
    assert "failed-run-alerts: refused" in pushed.stderr
    assert {r["result"] for n, r in results.items() if n != "failed-run-alerts"} == {"created"}

    # Given its webhook as a block (named alike on both sides), it goes too.
    alerts = yaml.safe_load((SAMPLES / "actions" / "failed-run-alerts.yaml").read_text())
    alerts["actions"][1] = {k: v for k, v in alerts["actions"][1].items()
                            if k not in ("url", "headers")} | {"block": "incidents"}
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    assert tocsin(here, "automation", "apply", "-f", str(tmp_path / "alerts.yaml")).returncode == 0
    pushed = tocsin(here, "automation", "push", "--to", prefect_server.api_url)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.count("updated automation ") == 3
    assert "created automation failed-run-alerts" in pushed.stdout

    on_prefect = {a["name"]: a for a in prefect_server.request("POST", "/automations/filter", {})}
    notify, hook = on_prefect["failed-run-alerts"]["actions"]
    assert notify["block_document_id"] == docs["ops"]
    assert hook["block_document_id"] == docs["incidents"]

    there = make_daemon().start()
    make_blocks(there)
    pulled = tocsin(there, "automation", "pull", "--from", prefect_server.api_url)
    assert pulled.returncode == 0, pulled.stderr
    with here.client() as a, there.client() as b:
        mine = {x["name"]: definition(x) for x in a.request("POST", "/automations/filter", {})}
        back = {x["name"]: definition(x) for x in b.request("POST", "/automations/filter", {})}
    assert set(back) >= set(mine)
    for name, original in mine.items():
        assert back[name]["actions"][0].get("block", None) == original["actions"][0].get("block")
        assert back[name]["trigger"] == original["trigger"], name
        assert [a["type"] for a in back[name]["actions"]] == \
            [a["type"] for a in original["actions"]]


def test_duplicate_names_on_prefect_are_reported_not_merged(make_daemon, tmp_path,
                                                            prefect_server: PrefectServer):
    twin = {"name": "twin-on-prefect", "trigger": {"type": "event", "expect": ["x.y"],
            "posture": "Reactive", "threshold": 1, "within": 0},
            "actions": [{"type": "do-nothing"}]}
    for _ in range(2):
        prefect_server.request("POST", "/automations/", twin)
    d = make_daemon().start()
    pulled = tocsin(d, "automation", "pull", "--from", prefect_server.api_url,
                    "twin-on-prefect", "--json")
    assert pulled.returncode == 1
    [result] = json.loads(pulled.stdout)
    assert result["result"] == "refused" and "several automations" in result["reason"]
    with d.client() as c:
        assert c.request("POST", "/automations/filter", {}) == []
    assert tocsin(d, "automation", "apply", "-f", str(SAMPLES / "automations" /
                                                       "woodchonk.yaml")).returncode == 0
    twin_here = copy.deepcopy(twin)
    (tmp_path / "twin.json").write_text(json.dumps(twin_here))
    assert tocsin(d, "automation", "apply", "-f", str(tmp_path / "twin.json")).returncode == 0
    pushed = tocsin(d, "automation", "push", "--to", prefect_server.api_url, "twin-on-prefect")
    assert pushed.returncode == 1 and "several automations" in pushed.stderr
    missing = tocsin(d, "automation", "push", "--to", prefect_server.api_url, "no-such")
    assert missing.returncode == 1 and "no automation named 'no-such'" in missing.stderr


def test_what_an_open_source_prefect_server_lacks_is_refused_with_the_reason():
    metric = {"name": "m", "trigger": {"type": "metric", "metric": {}}, "actions": []}
    with pytest.raises(Refused, match="Prefect Cloud"):
        for_prefect(metric, {}, {}, cloud=False)
    assert for_prefect(metric, {}, {}, cloud=True)["trigger"]["type"] == "metric"
    local_target = {"name": "r", "trigger": {"type": "event"},
                    "actions": [{"type": "run-deployment", "source": "selected",
                                 "deployment_id": "d-1"}]}
    with pytest.raises(Refused, match="deployment_id"):
        for_prefect(local_target, {}, {}, cloud=False)
    no_block = {"name": "n", "trigger": {"type": "event"},
                "actions": [{"type": "send-notification", "block": "ops"}]}
    with pytest.raises(Refused, match="no block document of that name"):
        for_prefect(no_block, {}, {}, cloud=False)
    from_prefect = {"name": "n", "trigger": {"type": "event"},
                    "actions": [{"type": "send-notification", "block_document_id": "b-1"}]}
    with pytest.raises(Refused, match="tocsin block create ops"):
        for_tocsin(from_prefect, {"b-1": "ops"}, set())
    assert for_tocsin(from_prefect, {"b-1": "ops"}, {"ops"})["actions"] == [
        {"type": "send-notification", "block": "ops"}]
