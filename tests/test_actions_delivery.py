"""Actions delivered to real sinks on 127.0.0.1 by a real daemon (in this process): webhook
calls, apprise json:// and mailto:// notifications, retries and the failures that are final."""

from __future__ import annotations

import asyncio
import json

import pytest
from actions_sinks import (
    HttpSink,
    InProcessDaemon,
    SmtpSink,
    action_events,
    actions_of,
    automation,
    fire,
    order_event,
    outbox,
    until,
)
from tocsin.actions.blocks import BlockCreate, WebhookTarget


@pytest.fixture
def sink():
    s = HttpSink().start()
    yield s
    s.stop()


def _done(daemon, n: int = 1):
    async def check() -> bool:
        rows = await outbox(daemon)
        return len(rows) >= n and all(r[1] != "pending" for r in rows)
    return check


async def test_webhook_renders_payload_and_sends_idempotency_key(sink):
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/hook",
                        "headers": {"X-Token": "s3cret"},
                        "payload": {"order": "{{ event.resource.name }}",
                                    "count": "{{ event.payload.n }}"}}])
    async with InProcessDaemon() as daemon:
        firing = await fire(daemon, auto, order_event(n=3))
        await until(_done(daemon))
        got = await sink.arrived(1)
        assert got[0].path == "/hook" and got[0].method == "POST"
        assert json.loads(got[0].body) == {"order": "Order one", "count": "3"}
        assert got[0].headers["Idempotency-Key"] == f"{firing.id}:0"
        assert got[0].headers["X-Token"] == "s3cret"
        assert got[0].headers["Content-Type"] == "application/json"
        assert await outbox(daemon) == [(0, "done", 1, None)]
        events = await action_events(daemon)
        assert [e.event for e in events] == ["prefect.automation.action.triggered",
                                             "prefect.automation.action.executed"]
        triggered, executed = events
        assert executed.follows == triggered.id
        assert triggered.follows == firing.triggering_event.id
        assert triggered.resource["prefect.resource.id"] == f"prefect.automation.{auto.id}"
        assert triggered.resource["prefect.trigger-type"] == "event"
        assert triggered.resource["prefect.posture"] == "Reactive"
        roles = [r["prefect.resource.role"] for r in executed.related]
        assert roles == ["automation-triggered-event", "triggering-event"]
        assert executed.payload["status_code"] == 200
        assert executed.payload["action_type"] == "call-webhook"
        assert executed.payload["action_index"] == 0


async def test_webhook_block_by_name(sink):
    async with InProcessDaemon() as daemon:
        blocks = actions_of(daemon).blocks
        await blocks.create(daemon.store, BlockCreate(name="ops-hook", webhook=WebhookTarget(
            url=f"{sink.url}/b", method="PUT", headers={"Authorization": "Bearer abc123"})))
        auto = automation([{"type": "call-webhook", "block": "ops-hook",
                            "payload": "order {{ event.resource.id }}"}])
        await fire(daemon, auto, order_event())
        got = await sink.arrived(1)
        assert (got[0].method, got[0].path, got[0].body) == ("PUT", "/b", b"order order.1")
        assert got[0].headers["Authorization"] == "Bearer abc123"
        assert got[0].headers["Content-Type"].startswith("text/plain")
        await until(_done(daemon))
        executed = (await action_events(daemon))[-1]
        assert "prefect.block-type.webhook" in [r["prefect.resource.id"] for r in executed.related]
        from tocsin.events.filter import EventFilter

        loaded, _ = await daemon.store.query(EventFilter(names=["prefect.block.*"]))
        assert [e.event for e in loaded] == ["prefect.block.webhook.loaded"]
        assert loaded[0].resource["prefect.resource.name"] == "ops-hook"


async def test_sink_down_then_up_retries_and_delivers_once():
    from actions_sinks import free_port

    port = free_port()
    auto = automation([{"type": "call-webhook", "url": f"http://127.0.0.1:{port}/late"}])
    async with InProcessDaemon({"retry_base_s": 0.2, "retry_max_s": 0.4}) as daemon:
        await fire(daemon, auto, order_event())
        await until(lambda: _failed_attempts(daemon, 1))
        sink = HttpSink(port=port).start()
        try:
            await until(_done(daemon), timeout=10)
            await asyncio.sleep(0.3)
            assert len(sink.received) == 1
        finally:
            sink.stop()
        rows = await outbox(daemon)
        assert rows[0][1] == "done" and rows[0][2] >= 2
        failed = [e for e in await action_events(daemon) if e.event.endswith(".failed")]
        assert "Webhook call failed" in failed[0].payload["reason"]
        assert "retry_in_s" in failed[0].payload


async def _failed_attempts(daemon, n: int) -> bool:
    return sum(e.event.endswith(".failed") for e in await action_events(daemon)) >= n


async def test_500_then_200_retries(sink):
    sink.statuses[:] = [500, 200]
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/x", "payload": "hi"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon))
        assert [r.status for r in sink.received] == [500, 200]
        assert sink.received[0].headers["Idempotency-Key"] == sink.received[1].headers["Idempotency-Key"]
        names = [e.event.rsplit(".", 1)[-1] for e in await action_events(daemon)]
        assert names == ["triggered", "failed", "executed"]
        failed = (await action_events(daemon))[1]
        assert failed.payload["reason"] == "Webhook call failed: 500 Internal Server Error: sink says 500"
        assert failed.payload["status_code"] == 500


async def test_400_fails_without_retry(sink):
    sink.statuses[:] = [400]
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/x", "payload": "hi"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon))
        await asyncio.sleep(0.3)
        assert len(sink.received) == 1
        assert await outbox(daemon) == [(0, "failed", 1,
                                         "Webhook call failed: 400 Bad Request: sink says 400")]
        failed = (await action_events(daemon))[-1]
        assert failed.event == "prefect.automation.action.failed"
        assert failed.payload["reason"].startswith("Webhook call failed: 400")


async def test_template_error_fails_the_action_with_its_line(sink):
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/x",
                        "payload": "line one\n{{ event.payload.missing | tojson }}"},
                       {"type": "call-webhook", "url": f"{sink.url}/ok", "payload": "fine"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon, 2))
        rows = await outbox(daemon)
        assert rows[0][1:3] == ("failed", 1)
        assert rows[0][3] == ("Template rendering failed in 'payload': line 2: "
                              "TypeError: tojson of an undefined value")
        assert rows[1][1] == "done"
        assert [r.path for r in sink.received] == ["/ok"]
        failed = [e for e in await action_events(daemon) if e.event.endswith(".failed")][0]
        assert failed.payload["template_source"].startswith("line one")


async def test_missing_inferred_target_fails_without_retry():
    auto = automation([{"type": "pause-automation", "source": "inferred"},
                       {"type": "cancel-flow-run"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon, 2))
        assert await outbox(daemon) == [(0, "failed", 1, "No automation could be inferred"),
                                        (1, "failed", 1, "No flow run could be inferred")]


async def test_unknown_block_fails_with_a_reason():
    auto = automation([{"type": "send-notification", "block": "nope", "body": "x"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon))
        rows = await outbox(daemon)
        assert rows[0][1] == "failed"
        assert rows[0][3] == "Block named 'nope' not found (see `tocsin block ls`)"


async def test_apprise_json_notification(sink):
    async with InProcessDaemon() as daemon:
        blocks = actions_of(daemon).blocks
        block = await blocks.create(daemon.store, BlockCreate(
            name="ops", urls=[f"json://127.0.0.1:{sink.port}/notify"]))
        auto = automation([{"type": "send-notification", "block_document_id": block.id,
                            "subject": "{{ automation.name }}: {{ event.event }}",
                            "body": "{{ event.resource.name }} has {{ event.payload.n }} items"}],
                          name="Orders")
        await fire(daemon, auto, order_event(n=7))
        got = await sink.arrived(1)
        body = json.loads(got[0].body)
        assert body["title"] == "Orders: order.created"
        assert body["message"] == "Order one has 7 items"
        assert got[0].path == "/notify"
        await until(_done(daemon))
        executed = (await action_events(daemon))[-1]
        assert executed.event == "prefect.automation.action.executed"
        roles = {r["prefect.resource.role"] for r in executed.related}
        assert {"block", "block-type"} <= roles


async def test_apprise_failure_is_the_reason_and_secrets_are_masked():
    from actions_sinks import free_port

    port = free_port()
    async with InProcessDaemon({"max_attempts": 1}) as daemon:
        blocks = actions_of(daemon).blocks
        await blocks.create(daemon.store, BlockCreate(
            name="down", urls=[f"json://user:hunter22pw@127.0.0.1:{port}/n"]))
        auto = automation([{"type": "send-notification", "block": "down", "body": "x"}])
        await fire(daemon, auto, order_event())
        await until(_done(daemon))
        failed = (await action_events(daemon))[-1]
        assert failed.payload["reason"].startswith("Notification failed")
        assert "hunter22pw" not in json.dumps(failed.payload)
        assert "Connection error" in failed.payload["notification_log"]
        assert "block" in [r["prefect.resource.role"] for r in failed.related]
        listed = json.dumps([b.masked() for b in blocks.list()])
        assert "hunter22pw" not in listed and "****" in listed


async def test_apprise_mailto_notification_reaches_smtp():
    smtp = SmtpSink().start()
    try:
        async with InProcessDaemon() as daemon:
            blocks = actions_of(daemon).blocks
            url = (f"mailto://example.com:{smtp.port}?smtp=127.0.0.1"
                   "&to=ops@example.com&from=tocsin@example.com&mode=insecure")
            await blocks.create(daemon.store, BlockCreate(name="mail", urls=[url]))
            auto = automation([{"type": "send-notification", "block": "mail",
                                "subject": "Order {{ event.resource.name }}",
                                "body": "payload n={{ event.payload.n }}"}])
            await fire(daemon, auto, order_event(n=5))
            await until(_done(daemon), timeout=20)
            assert (await outbox(daemon))[0][1] == "done"
        message = smtp.wait_for(1)[0]
        assert message["Subject"] == "Order Order one"
        assert message["To"].endswith("ops@example.com")
        text = message.get_payload(decode=True) if not message.is_multipart() else \
            message.get_payload(0).get_payload(decode=True)
        assert b"payload n=5" in text
    finally:
        smtp.stop()


async def test_do_nothing_and_actions_on_trigger_see_the_automation_event(sink):
    auto = automation([{"type": "do-nothing"}],
                      on_trigger=[{"type": "call-webhook", "url": f"{sink.url}/t",
                                   "payload": "{{ event.event }} {{ event.resource.id }} "
                                              "{{ event.payload.triggering_event.event }}"}])
    async with InProcessDaemon() as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon, 2))
        assert [r[1] for r in await outbox(daemon)] == ["done", "done"]
        body = (await sink.arrived(1))[0].body.decode()
        assert body == f"prefect.automation.triggered prefect.automation.{auto.id} order.created"


async def test_firing_queued_twice_runs_once(sink):
    """The same firing's rows inserted again (a replayed commit) are ignored."""
    from actions_sinks import firing_for

    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/once"}])
    async with InProcessDaemon() as daemon:
        event = order_event()
        await daemon.ingest([event])
        firing, changed = firing_for(auto, event)
        component = actions_of(daemon)
        await daemon.ingest([changed], extra=component.outbox_statements(firing, auto, changed))
        await until(_done(daemon))
        await daemon.store.run(component.outbox_statements(firing, auto, changed))
        await component.worker.scan()
        await asyncio.sleep(0.2)
        assert len(sink.received) == 1


async def test_attempts_stop_at_max_attempts(sink):
    sink.statuses[:] = [503, 503, 503, 200]
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/x"}])
    async with InProcessDaemon({"max_attempts": 3}) as daemon:
        await fire(daemon, auto, order_event())
        await until(_done(daemon))
        await asyncio.sleep(0.3)
        assert len(sink.received) == 3
        assert await outbox(daemon) == [(0, "failed", 3, "Webhook call failed: 503 Service "
                                                          "Unavailable: sink says 503")]
        outcomes = [e for e in await action_events(daemon) if e.event.endswith(".failed")]
        assert [e.payload["attempt"] for e in outcomes] == [1, 2, 3]
        assert "retry_in_s" not in outcomes[-1].payload


async def test_concurrency_is_bounded(sink):
    sink.statuses[:] = [0, 0]  # the first two calls hang until they time out
    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/{i}"} for i in range(5)])
    async with InProcessDaemon({"concurrency": 2, "webhook_timeout_s": 0.5}) as daemon:
        await fire(daemon, auto, order_event())
        await sink.arrived(2)
        await asyncio.sleep(0.3)
        assert len(sink.received) == 2  # two runners, both waiting on a hung sink
        await until(_done(daemon, 5))
        assert [r[1] for r in await outbox(daemon)] == ["done"] * 5
        failed = [e for e in await action_events(daemon) if e.event.endswith(".failed")]
        assert {e.payload["reason"] for e in failed} == {"Webhook call failed: no answer within 0.5s"}


def test_backoff_is_exponential_with_jitter_and_capped():
    from tocsin.config import ActionsConfig

    s = ActionsConfig(retry_base_s=1.0, retry_max_s=10.0)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [s.backoff(attempt) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 100  # jittered, not one fixed delay


async def test_scan_finds_committed_rows_page_by_page(sink):
    """Rows committed without the in-memory hand-off (as after a restart) are found."""
    from actions_sinks import firing_for

    auto = automation([{"type": "call-webhook", "url": f"{sink.url}/{i}"} for i in range(25)])
    async with InProcessDaemon({"scan_interval_s": 3600}) as daemon:
        component = actions_of(daemon)
        await asyncio.sleep(0.1)  # the start-up scan has run and found nothing
        firing, changed = firing_for(auto, order_event())
        await daemon.store.run(component.outbox_statements(firing, auto, changed))
        assert await component.worker.scan(page=10) == 25
        assert await component.worker.scan(page=10) == 0
        await until(_done(daemon, 25))
        assert sorted(r.path for r in sink.received) == sorted(f"/{i}" for i in range(25))
