"""Blocks over the socket API, secrets masked wherever a block is shown; the template preview
route and `tocsin template render`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tocsin.actions.blocks import mask_apprise_url, mask_headers, mask_url, scrub
from tocsin.client.sync import build_event
from tocsin.errors import ApiError


def test_masking_helpers():
    assert mask_apprise_url("json://user:pa55word@127.0.0.1:9/x").startswith(
        "json://user:****@127.0.0.1:9/x")
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in mask_apprise_url(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert mask_url("https://bob:pw@h.example/p?token=abc&x=1") == \
        "https://bob:****@h.example/p?token=****&x=****"
    assert mask_headers({"Authorization": "Bearer x", "Content-Type": "text/plain"}) == \
        {"Authorization": "****", "Content-Type": "text/plain"}
    assert scrub("GET https://bob:pw1234@h/ failed (pw1234)", ["https://bob:pw1234@h/"]) == \
        "GET **** failed (****)"


def test_blocks_api_create_list_get_delete(daemon):
    with daemon.client() as client:
        made = client.request("POST", "/blocks", {
            "name": "ops", "urls": ["json://u:s3cretpw@127.0.0.1:9/n",
                                    "mailto://example.com?to=a@example.com&from=b@example.com"]})
        client.request("POST", "/blocks", {"name": "hook", "webhook": {
            "url": "https://h.example/in?key=k3y", "headers": {"X-Api-Key": "abcdef"}}})
        listed = client.request("GET", "/blocks")
        assert [b["name"] for b in listed] == ["hook", "ops"]
        text = json.dumps(listed)
        for secret in ("s3cretpw", "k3y", "abcdef"):
            assert secret not in text
        assert client.request("GET", "/blocks/ops")["id"] == made["id"]
        with pytest.raises(ApiError) as info:
            client.request("POST", "/blocks", {"name": "ops", "urls": ["json://127.0.0.1"]})
        assert info.value.status == 422 and "exists" in str(info.value)
        with pytest.raises(ApiError) as info:
            client.request("POST", "/blocks", {"name": "bad name", "urls": []})
        assert {d["loc"] for d in info.value.detail} == {"name", "urls"}
        with pytest.raises(ApiError):
            client.request("POST", "/blocks", {"name": "both", "urls": ["json://127.0.0.1"],
                                               "webhook": {"url": "http://x"}})
        client.request("DELETE", "/blocks/ops")
        with pytest.raises(ApiError) as info:
            client.request("GET", "/blocks/ops")
        assert info.value.status == 404
    daemon.restart()
    with daemon.client() as client:
        assert [b["name"] for b in client.request("GET", "/blocks")] == ["hook"]
    assert "s3cretpw" not in daemon.log() and "abcdef" not in daemon.log()


def test_render_route_with_stored_or_inline_event(daemon):
    event = build_event("order.created", {"prefect.resource.id": "order.9",
                                          "prefect.resource.name": "Nine"}, payload={"n": 2})
    with daemon.client() as client:
        client.emit([event])
        out = client.request("POST", "/templates/render", {
            "template": "{{ event.resource.name }} x{{ event.payload.n }}", "event_id": event["id"]})
        assert out == {"output": "Nine x2"}
        out = client.request("POST", "/templates/render", {
            "template": "{{ event.event }}", "event": event})
        assert out == {"output": "order.created"}
        with pytest.raises(ApiError) as info:
            client.request("POST", "/templates/render", {"template": "a\n{{ x }", "event": event})
        assert info.value.status == 422
        assert info.value.detail == [{"loc": "template", "msg": "line 2: unexpected '}'"}]
        with pytest.raises(ApiError) as info:
            client.request("POST", "/templates/render", {"template": "x", "event_id": "nope"})
        assert info.value.status == 422


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "template", "render", *args],
                          capture_output=True, text=True, timeout=30)


def test_template_render_cli_needs_no_daemon(tmp_path):
    template = tmp_path / "t.j2"
    template.write_text("Order {{ event.resource.name }}: {{ event.payload['items'] | length }}\n")
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"event": "order.created", "resource": {
        "prefect.resource.id": "o.1", "prefect.resource.name": "One"},
        "payload": {"items": [1, 2, 3]}}))
    done = _render(str(template), "--event", str(event))
    assert (done.returncode, done.stdout) == (0, "Order One: 3\n")

    template.write_text("fine\n{{ event.payload.items | tojson }\n")
    done = _render(str(template), "--event", str(event))
    assert done.returncode == 65 and "line 2" in done.stderr and done.stdout == ""

    template.write_text("{{ ''.__class__.__mro__ }}")
    assert _render(str(template)).stdout == ""

    event.write_text('{"event": "x"}')
    done = _render(str(template), "--event", str(event))
    assert done.returncode == 65 and "missing required field `resource`" in done.stderr
