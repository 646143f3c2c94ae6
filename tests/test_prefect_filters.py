"""Prefect's event filter read as tocsin's (the `/api` listener) and written for Prefect (what
`[[subscribe]]` asks for): exact where both can say it, refused or widened where not."""

from __future__ import annotations

import pytest
from tocsin.errors import InvalidInput
from tocsin.prefect.filters import from_prefect, to_prefect


def test_prefect_filter_becomes_tocsins():
    f, ids = from_prefect({
        "occurred": {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
        "event": {"prefix": ["prefect.flow-run."], "name": ["order.created"]},
        "resource": {"id_prefix": ["prefect.flow-run."], "labels": {"env": "prod"}},
        "related": {"role": ["flow"], "labels": {"prefect.resource.name": "etl"}},
        "id": {"id": ["0190b4a2-0000-7000-8000-000000000001"]},
        "order": "ASC",
        # what Prefect's own client sends for the parts it does not use
        "any_resource": None, "text": None,
    }, limit=7)
    assert f.since.isoformat() == "2026-01-01T00:00:00+00:00"
    assert f.names == ["order.created", "prefect.flow-run.*"]
    assert f.resource == {"env": "prod", "prefect.resource.id": ["prefect.flow-run.*"]}
    assert f.related == [{"prefect.resource.name": "etl", "prefect.resource.role": ["flow"]}]
    assert (f.order, f.limit) == ("oldest", 7)
    assert ids == ["0190b4a2-0000-7000-8000-000000000001"]


@pytest.mark.parametrize("body, field", [
    ({"event": {"exclude_prefix": ["x."]}}, "event.exclude_prefix"),
    ({"text": {"query": "boom"}}, "text"),
    ({"any_resource": {"id": ["a"]}}, "any_resource"),
    ({"resource": {"distinct": True}}, "resource.distinct"),
])
def test_what_tocsin_cannot_mean_exactly_is_refused_by_name(body, field):
    with pytest.raises(InvalidInput) as caught:
        from_prefect(body)
    assert caught.value.errors[0][0] == field


def test_subscribe_asks_prefect_exactly_or_wider_never_narrower():
    exact = to_prefect(["prefect.flow-run.Completed", "prefect.flow-run.Failed"],
                       {"prefect.resource.id": "prefect.flow-run.*", "env": "prod"})
    assert exact["event"] == {"name": ["prefect.flow-run.Completed", "prefect.flow-run.Failed"]}
    assert exact["resource"] == {"id": None, "id_prefix": ["prefect.flow-run."],
                                 "labels": {"env": "prod"}}
    assert exact["order"] == "ASC" and exact["occurred"]["since"] < exact["occurred"]["until"]
    # Prefect ANDs `name` with `prefix`, and has no glob in the middle or negation: ask wider.
    assert "event" not in to_prefect(["a.b", "c.*"], {})
    assert "event" not in to_prefect(["prefect.*.Failed"], {})
    assert "resource" not in to_prefect([], {"env": "!prod"})
