"""The feed's filter line and the emit form's parsing (pure functions, no app)."""

from __future__ import annotations

import pytest
from tocsin_tui.feed_filter import compile_filter
from tocsin_tui.screens.emit import FormError, build_test_event

ORDER = {"event": "order.created", "resource": {"prefect.resource.id": "shop.order.42",
                                                "region": "eu"}}
LOGIN = {"event": "user.login", "resource": {"prefect.resource.id": "auth.user.7"}}


@pytest.mark.parametrize("text, order, login", [
    ("", True, True),
    ("order", True, False),            # substring of the name
    ("ORDER", True, False),            # case does not matter
    ("order.*", True, False),          # wildcard on the name
    ("*.login", False, True),
    ("shop.order.4?", True, False),    # wildcard on the resource id
    ("auth.user", False, True),        # substring of the resource id
    ("region=eu", True, False),        # a label
    ("region=e*", True, False),
    ("id=auth.*", False, True),        # id= is the resource id
    ("order region=us", False, False),  # terms combine with AND
    ("order region=eu", True, False),
])
def test_filter_terms(text, order, login):
    pred = compile_filter(text)
    assert (pred is None or pred(ORDER)) is order
    assert (pred is None or pred(LOGIN)) is login


def test_emit_form_builds_a_prefect_shaped_event():
    event = build_test_event("deploy.done", "app.web", "env=prod, team=ops", '{"n": 1}')
    assert event["resource"] == {"prefect.resource.id": "app.web", "env": "prod",
                                 "team": "ops"}
    assert event["payload"] == {"n": 1} and event["id"] and event["occurred"]


@pytest.mark.parametrize("args, field", [
    (("", "r", "", ""), "event name"),
    (("a", " ", "", ""), "resource id"),
    (("a", "r", "oops", ""), "labels"),
    (("a", "r", "", "[1,"), "payload"),
    (("a", "r", "", "[1]"), "payload"),
])
def test_emit_form_names_the_wrong_field(args, field):
    with pytest.raises(FormError, match=field):
        build_test_event(*args)
