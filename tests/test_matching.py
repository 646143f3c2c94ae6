"""Resource matching, pinned against Prefect's server behaviour (prefect-semantics §2)."""

from __future__ import annotations

import pytest
from tocsin.events.matching import (
    ResourceMatcher,
    compile_name_patterns,
    compile_spec,
    exact_resource_ids,
    matches,
)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.bc", False),
        ("a.*", "a.b.c", True),
        ("*.csv", "s3://x/y.csv", True),
        ("s3://*.csv", "s3://x/y.csv", True),
        ("a*c", "abbbc", True),
        ("a?c", "abc", True),
        ("a?c", "abbc", False),
        ("[ab]x", "bx", True),
        ("*", "", True),
        ("", "", True),
        ("", "x", False),
        ("A.*", "a.b", False),  # case-sensitive
        ("!dev", "prod", True),
        ("!dev", "dev", False),
        ("!dev-*", "dev-1", False),
        ("!dev", None, False),  # a missing label never matches, negated or not
        ("*", None, False),
    ],
)
def test_single_value(pattern, value, expected):
    assert matches(pattern, value) is expected


def test_labels_are_and_lists_are_or():
    spec = compile_spec({"env": ["prod", "staging"], "team": "data"})
    assert spec({"env": "prod", "team": "data"})
    assert spec({"env": "staging", "team": "data"})
    assert not spec({"env": "dev", "team": "data"})
    assert not spec({"env": "prod"})


def test_negation_inside_a_list_is_the_documented_pitfall():
    spec = compile_spec({"name": ["dev-*", "!dev-automations"]})
    assert spec({"name": "dev-automations"})  # "dev-*" admits it: lists are OR
    assert spec({"name": "anything"})


def test_empty_list_never_matches_and_empty_spec_always_does():
    assert not compile_spec({"env": []})({"env": "x"})
    assert compile_spec({})({})


def test_match_related_by_role_on_the_same_resource():
    m = ResourceMatcher({}, {"prefect.resource.role": "deployment",
                             "prefect.resource.id": "prefect.deployment.1"})
    dep = {"prefect.resource.role": "deployment", "prefect.resource.id": "prefect.deployment.1"}
    flow = {"prefect.resource.role": "flow", "prefect.resource.id": "prefect.deployment.1"}
    assert m({"prefect.resource.id": "r"}, [dep])
    assert not m({"prefect.resource.id": "r"}, [flow])
    assert not m({"prefect.resource.id": "r"}, [])


def test_a_list_of_related_specs_needs_each_satisfied_by_some_resource():
    m = ResourceMatcher({"prefect.resource.id": "prefect.flow-run.*"}, [
        {"prefect.resource.role": "flow"},
        {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.nightly"},
    ])
    flow = {"prefect.resource.role": "flow", "prefect.resource.id": "prefect.flow.f"}
    tag = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.nightly"}
    run = {"prefect.resource.id": "prefect.flow-run.1"}
    assert m(run, [flow, tag])
    assert not m(run, [flow])
    assert not m({"prefect.resource.id": "other"}, [flow, tag])


def test_negated_tag_is_true_when_some_other_tag_is_present():
    m = ResourceMatcher({}, {"prefect.resource.role": "tag", "prefect.resource.id": "!prefect.tag.dev"})
    dev = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.dev"}
    other = {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.x"}
    assert m({"prefect.resource.id": "r"}, [dev, other])
    assert not m({"prefect.resource.id": "r"}, [dev])


def test_exact_ids_are_found_for_indexing():
    assert exact_resource_ids({"prefect.resource.id": ["a", "b"]}) == {"a", "b"}
    assert exact_resource_ids({"prefect.resource.id": "a.*"}) is None
    assert exact_resource_ids({"prefect.resource.id": "!a"}) is None
    assert exact_resource_ids({"env": "x"}) is None


def test_name_patterns():
    names = compile_name_patterns(["prefect.flow-run.*", "order.created"])
    assert names("prefect.flow-run.Completed")
    assert names("order.created")
    assert not names("order.completed")
    assert compile_name_patterns([])("anything")
