"""Issue 11's proof: generated input against one real daemon — the socket API, `/events/in`,
the webhook listener, the tailer and template rendering. For every input the daemon answers
2xx, or a 4xx naming the field; it stores exactly the events it accepted; and it stays
healthy. Example counts are bounded so the suite stays in seconds."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import pytest
from daemon_proc import DaemonProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hardening import post, wait_until

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Text with the characters that broke things: NUL, surrogate-adjacent, controls, brackets.
text = st.text(alphabet=st.sampled_from("ab.*-_ \u0000\u00e9\u2603\ud7ff\U0001f600\n\"\\{}[]"),
               max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=12)
labels = st.dictionaries(text, text, max_size=3)


@st.composite
def events(draw) -> dict:
    """Mostly event-shaped, sometimes broken: a field missing, of the wrong type, or odd."""
    event: dict = {"id": str(uuid.uuid4()), "event": draw(text),
                   "resource": {"prefect.resource.id": draw(text), **draw(labels)}}
    if draw(st.booleans()):
        event["payload"] = draw(st.dictionaries(text, json_values, max_size=3))
    if draw(st.booleans()):
        event["related"] = [{"prefect.resource.id": draw(text),
                             "prefect.resource.role": draw(text), **draw(labels)}]
    if draw(st.integers(0, 4)) == 0:
        event[draw(st.sampled_from(["event", "resource", "occurred", "payload", "related",
                                    "follows", "received"]))] = draw(json_values)
    if draw(st.integers(0, 6)) == 0:
        event["payload"] = {"deep": f"__DEEP_{draw(st.integers(60, 3000))}__"}
    return event


def encode(value: object) -> bytes:
    """JSON, with each `__DEEP_n__` made a list nested n deep (too deep for json.dumps)."""
    return re.sub(rb'"__DEEP_(\d+)__"', lambda m: b"[" * int(m[1]) + b"]" * int(m[1]),
                  json.dumps(value).encode())


bodies = st.one_of(
    st.builds(encode, events()),
    st.builds(encode, st.lists(events(), max_size=4)),
    st.binary(max_size=64),
    st.builds(lambda n: encode({"a": f"__DEEP_{n}__"}), st.integers(1, 100_000)),
)


@pytest.fixture(scope="module")
def fuzzed():
    """One daemon for the module, with the webhook listener on and a watched file."""
    work = Path(tempfile.mkdtemp(prefix="tcsfz", dir="/tmp"))
    log = work / "fuzz.jsonl"
    log.write_text("")
    config = work / "tocsin.toml"
    config.write_text(f'[webhooks]\nenabled = true\nport = 0\n\n[[watch]]\npath = "{log}"\n'
                      'start = "beginning"\n')
    d = DaemonProcess(config=config).start()
    template = work / "hook.j2"
    template.write_text('{"event": "hook.{{ body.kind if body is mapping else \'text\' }}", '
                        '"resource": {"prefect.resource.id": "hook"}}')
    out = subprocess.run([*TOCSIN, "--socket", str(d.socket), "webhook", "create", "fz",
                          "--template", str(template)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    d.hook_url, d.watched = out.stdout.strip(), log
    yield d
    d.cleanup()


def healthy(d) -> None:
    started = time.monotonic()
    with d.client() as c:
        assert c.health()["status"] == "ok"
    assert time.monotonic() - started < 2


def assert_named_refusal(status: int, answer) -> None:
    assert status in (400, 422), (status, answer)
    assert answer["detail"] and all(d["loc"].startswith("$") and d["msg"]
                                    for d in answer["detail"]), answer


def stored_ids(d, ids: list[str]) -> set[str]:
    found = set()
    with d.client() as c:
        for event_id in ids:
            try:
                c.request("GET", f"/events/{event_id}")
                found.add(event_id)
            except Exception:  # noqa: BLE001 - 404: not stored
                pass
    return found


def ids_in(body: bytes) -> list[str]:
    """The ids a body's events carry (every generated event has one)."""
    return re.findall(r'"id": "([0-9a-f-]{36})"', body.decode(errors="replace"))


@FUZZ
@given(body=bodies)
def test_post_events_answers_201_or_names_the_field_and_stores_exactly_that(fuzzed, body):
    status, answer = post(fuzzed, body)
    ids = ids_in(body)
    if status == 201:
        assert stored_ids(fuzzed, ids) == set(ids)
    else:
        assert_named_refusal(status, answer)
        assert stored_ids(fuzzed, ids) == set()
    healthy(fuzzed)


@settings(FUZZ, max_examples=15)
@given(messages=st.lists(bodies, min_size=1, max_size=6))
def test_events_in_stores_each_message_or_answers_it_by_number(fuzzed, messages):
    async def stream() -> dict[int, dict]:
        connector = aiohttp.UnixConnector(path=str(fuzzed.socket))
        async with aiohttp.ClientSession(connector=connector) as s:
            async with s.ws_connect("http://tocsin/events/in") as ws:
                for m in messages:
                    await ws.send_bytes(m)
                # a known-good last message: once it is stored, every earlier one is settled
                await ws.send_str(json.dumps({"id": sentinel, "event": "fz.sentinel",
                                              "resource": {"prefect.resource.id": "s"}}))
                errors: dict[int, dict] = {}
                deadline = time.monotonic() + 20
                settled = False
                while True:  # frames until the sentinel is stored and none are left
                    assert time.monotonic() < deadline
                    try:
                        msg = await ws.receive(timeout=0.15 if settled else 0.05)
                    except TimeoutError:
                        if settled:
                            break
                        settled = bool(stored_ids(fuzzed, [sentinel]))
                        continue
                    frame = json.loads(msg.data)
                    errors[frame["message"]] = frame
                await ws.close()
                return errors

    sentinel = str(uuid.uuid4())
    errors = asyncio.run(stream())
    for number, body in enumerate(messages, start=1):
        ids = ids_in(body)
        if number in errors:
            assert errors[number]["detail"][0]["msg"]
            assert stored_ids(fuzzed, ids) == set()
        else:
            assert stored_ids(fuzzed, ids) == set(ids)
    healthy(fuzzed)


@FUZZ
@given(body=bodies, content_type=st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain"]))
def test_the_webhook_listener_never_fails(fuzzed, body, content_type):
    request = urllib.request.Request(fuzzed.hook_url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in (202, 400, 413), status
    healthy(fuzzed)


@settings(FUZZ, max_examples=10)
@given(lines=st.lists(st.one_of(st.builds(lambda e: encode(e).decode(), events()), st.binary(max_size=40).map(
    lambda b: b.replace(b"\n", b" ").decode("latin-1"))), min_size=1, max_size=8))
def test_the_tailer_stores_or_rejects_every_line_and_moves_on(fuzzed, lines):
    with fuzzed.watched.open("a", encoding="utf-8", errors="surrogateescape") as f:
        for line in lines:
            f.write(line + "\n")
        sentinel = str(uuid.uuid4())
        f.write(json.dumps({"id": sentinel, "event": "fz.sentinel",
                            "resource": {"prefect.resource.id": "s"}}) + "\n")
    wait_until(lambda: stored_ids(fuzzed, [sentinel]))
    healthy(fuzzed)


TEMPLATES = st.lists(st.sampled_from([
    "{{ event.event }}", "{{ event.payload | tojson }}", "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{{ 'a' * 3 }}", "{{ undefined_thing.attr }}", "{{ 1 / 0 }}", "{% if %}", "{{ event",
    "\u0000", "{{ event.resource['prefect.resource.id'] }}", "{{ [1,2] | join(',') }}",
    "{{ '%05d' | format(3) }}", "text", "{{ x.__class__ }}",
]), min_size=1, max_size=4).map("".join)


@FUZZ
@given(template=TEMPLATES)
def test_template_rendering_through_the_daemon_answers_or_refuses(fuzzed, template):
    status, answer = post(fuzzed, json.dumps({"template": template}).encode(),
                          "/templates/render")
    assert status < 500, (status, answer)
    healthy(fuzzed)


BOMBS = ["{{ 'x'.ljust(10**9) }}", "{{ 'x'.center(10**9) }}", "{{ 'x'.zfill(10**9) }}",
         "{{ '%0999999999d' | format(1) }}", "{{ 'x' * 10**9 }}",
         "{{ ','.join(['x'] * 10**8) }}"]


def rss_kib(d) -> int:
    status = Path(f"/proc/{d.proc.pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("VmRSS")))


def bomb_in_an_action(d, bomb: str) -> str:
    """An automation whose call-webhook payload is `bomb`, fired once; returns the reason
    its action failed (with /health answering all along)."""
    name = f"bomb-{uuid.uuid4().hex[:8]}"
    status, answer = post(d, json.dumps({
        "name": name, "trigger": {"expect": [f"{name}.go"]},
        "actions": [{"type": "call-webhook", "url": "http://127.0.0.1:9/", "payload": bomb}],
    }).encode(), "/automations")
    assert status == 201, answer
    post(d, json.dumps({"event": f"{name}.go", "resource": {"prefect.resource.id": "b"}}).encode())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        healthy(d)
        with d.client() as c:
            failed = [e for e in c.filter_events(names=["prefect.automation.action.failed"],
                                                 limit=100)["events"]
                      if e["resource"].get("prefect.resource.name") == name]
        if failed:
            return json.dumps(failed[0]["payload"])
        time.sleep(0.05)
    raise AssertionError("the action neither failed nor ran")


@pytest.mark.parametrize("bomb", BOMBS)
def test_template_bombs_are_refused_before_they_cost_memory_or_time(fuzzed, bomb):
    started = time.monotonic()
    status, _ = post(fuzzed, json.dumps({"template": bomb}).encode(), "/templates/render")
    assert 400 <= status < 500 and time.monotonic() - started < 2.5
    assert rss_kib(fuzzed) < 300 * 1024
    bomb_in_an_action(fuzzed, bomb)
    assert rss_kib(fuzzed) < 300 * 1024


def test_a_template_over_the_output_limit_fails_its_action_not_the_daemon(fuzzed):
    """The action path of finding 3 with a template of only 10 MB, in every test run (the
    bombs above are refused the same way, before anything is built)."""
    reason = bomb_in_an_action(fuzzed, "{{ 'x' * 10**7 }}")
    assert "x" * 1000 not in reason and rss_kib(fuzzed) < 300 * 1024
