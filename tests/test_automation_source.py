"""The daemon keeps each automation's text as typed (its source) beside the automation:
sent by `automation apply -f` (each automation its own lines of the file) and by the
dashboard's editor, dropped when the automation is changed as JSON (issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tocsin.automations.files import parse_sourced
from tocsin.errors import ApiError

UNPAID = """\
# Orders nobody paid for: tell sales.
name: unpaid   # the short name
trigger:
  type: event
  expect: [order.created]
  after: [order.created]
  for_each: [prefect.resource.id]
  posture: Proactive
  within: 3600
actions:
  - type: call-webhook
    block: sales-hook
    payload: |
      Order {{ event.resource.id }} is unpaid.
      Ring them.
"""

BIG = """\
# Big orders: keep the default shape, in JSON-ish flow style.
{name: big, trigger: {type: event, expect: [order.big]}, actions: [{type: do-nothing}]}
"""


def as_list_item(text: str) -> str:
    """An automation's text written as an item of an `automations:` list, its comment above
    it: how a file of several holds it."""
    comment, first, *rest = text.splitlines()
    return f"  {comment}\n  - {first}\n" + "".join(f"    {line}\n" for line in rest)


FILE = ("# Two automations for the shop.\nautomations:\n" + as_list_item(UNPAID) + "\n"
        + as_list_item(BIG))


def apply(daemon, path) -> str:
    done = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket",
                           str(daemon.socket), "automation", "apply", "-f", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sources(client) -> dict[str, str | None]:
    return {a["name"]: client.request("GET", f"/automations/{a['id']}/source")["source"]
            for a in client.request("POST", "/automations/filter", {})}


def test_each_automation_in_a_file_gets_its_own_lines_as_typed():
    found = parse_sourced(FILE)
    assert [(a.name, text) for a, text in found] == [("unpaid", UNPAID), ("big", BIG)]
    for automation, text in found:  # each text reads on its own as that automation
        assert [a.name for a, _ in parse_sourced(text)] == [automation.name]
    whole = parse_sourced(UNPAID)
    assert whole[0][1] == UNPAID  # a file of one automation: the whole file


def test_apply_keeps_the_text_and_a_json_change_drops_it(daemon):
    path = daemon.dir / "shop.yaml"
    path.write_text(FILE)
    assert "created automation unpaid" in apply(daemon, path)
    with daemon.client() as c:
        assert sources(c) == {"unpaid": UNPAID, "big": BIG}
        stored = c.request("GET", "/automations/name/unpaid")
        assert "source" not in stored  # the automation JSON scripts and Prefect read
        assert all("source" not in a for a in c.request("POST", "/automations/filter", {}))
        body = {k: v for k, v in stored.items() if k not in ("id", "created", "updated")}
        c.request("PUT", f"/automations/{stored['id']}", {**body, "description": "by script"})
        assert sources(c)["unpaid"] is None
    # Applying the file again replaces the changed one, and keeps the text of the unchanged
    # one (after its source was lost) without starting its windows over.
    with daemon.client() as c:
        big = c.request("GET", "/automations/name/big")
        c.request("PUT", f"/automations/{big['id']}", {
            k: v for k, v in big.items() if k not in ("id", "created", "updated")})
        assert sources(c)["big"] is None
        big = c.request("GET", "/automations/name/big")
    out = apply(daemon, path)
    assert "updated automation unpaid" in out and "unchanged automation big" in out
    with daemon.client() as c:
        assert sources(c) == {"unpaid": UNPAID, "big": BIG}
        assert c.request("GET", "/automations/name/big")["updated"] == big["updated"]


def test_a_text_that_says_something_else_is_not_kept_for_an_automation(daemon):
    with daemon.client() as c:
        made = c.request("POST", "/automations/", {"yaml": BIG})
        assert made["name"] == "big" and sources(c) == {"big": BIG}
        with pytest.raises(ApiError) as refused:
            c.request("PUT", f"/automations/{made['id']}/source",
                      {"yaml": BIG.replace("order.big", "order.huge")})
        assert refused.value.status == 422 and "does not define" in str(refused.value)
        with pytest.raises(ApiError) as two:
            c.request("POST", "/automations/", {"yaml": FILE})
        assert two.value.status == 422 and "holds 2 automations" in str(two.value)


def test_apply_takes_texts_and_objects_in_one_all_or_nothing_request(daemon):
    """POST /automations/apply with `{"yaml": TEXT}` items: the daemon parses each text,
    places an error at `[i]` and its line, keeps every text in the same transaction, and
    stores only the new text of an automation that did not change (its windows go on)."""
    with daemon.client() as c:
        first = c.request("POST", "/automations/apply", [{"yaml": UNPAID}, {"yaml": BIG}])
        assert [r["result"] for r in first] == ["created", "created"]
        assert sources(c) == {"unpaid": UNPAID, "big": BIG}
        big = c.request("GET", "/automations/name/big")
        retyped = "# Big orders, said again.\n" + BIG.splitlines()[1] + "\n"
        posture = UNPAID.replace("posture: Proactive", "posture: Sideways")
        with pytest.raises(ApiError) as refused:
            c.request("POST", "/automations/apply", [{"yaml": retyped}, {"yaml": posture}])
        detail = refused.value.detail
        assert refused.value.status == 422
        assert [(d["loc"], d.get("line")) for d in detail] == [("[1].trigger.posture", 8)]
        assert sources(c) == {"unpaid": UNPAID, "big": BIG}  # nothing of the lot was kept
        again = c.request("POST", "/automations/apply", [{"yaml": retyped}])
        assert [r["result"] for r in again] == ["unchanged"]
        assert sources(c)["big"] == retyped
        assert c.request("GET", "/automations/name/big")["updated"] == big["updated"]
        body = {k: v for k, v in big.items() if k not in ("id", "created", "updated")}
        changed = c.request("POST", "/automations/apply", [{**body, "description": "json"}])
        assert [r["result"] for r in changed] == ["updated"]
        assert sources(c) == {"unpaid": UNPAID, "big": None}


def test_a_json_list_is_cut_into_each_items_own_text():
    """Cut by the json module's scanner (fast for 10,000): a one-line list and an indented
    one both give each item exactly as typed."""
    items = [{"name": "a", "trigger": {"expect": ["x"]}, "actions": []},
             {"name": "b", "trigger": {"expect": ["y"]}, "actions": []}]
    one_line = json.dumps(items)
    assert [text for _, text in parse_sourced(one_line)] == [
        json.dumps(item) + "\n" for item in items]
    indented = json.dumps(items, indent=2)
    assert [text for _, text in parse_sourced(indented)] == [
        json.dumps(item, indent=2) + "\n" for item in items]
