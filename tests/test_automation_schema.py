"""`tocsin automation schema`: the JSON Schema editors use for automation files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from tocsin.automations.files import parse_file

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "samples").rglob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    out = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "automation", "schema"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_sample_automation_file_the_parser_takes_fits_the_schema(validator):
    checked = 0
    for path in SAMPLES:
        try:
            parse_file(path)
        except Exception:  # noqa: BLE001, S112 (not an automation file: a project file, say)
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert list(validator.iter_errors(doc)) == [], path
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("automation", [
    {"name": "a", "trigger": {"expect": ["x"], "within": "PT10M"}, "actions": []},
    {"name": "a", "trigger": {"type": "compound", "require": "any", "triggers": [
        {"type": "event", "expect": ["x"]}]}, "actions": [{"type": "do-nothing"}]},
])
def test_what_the_parser_takes_the_schema_takes(validator, automation):
    from tocsin.automations.model import parse_automation

    parse_automation(automation)
    assert list(validator.iter_errors(automation)) == []


@pytest.mark.parametrize("automation", [
    {"name": "a", "trigger": {"expect": ["x"]}, "actions": [{"type": "send-email"}]},
    {"name": "a", "trigger": {"expect": ["x"], "withn": 5}, "actions": []},
    {"name": "a", "trigger": {"expect": ["x"]}, "actions": [], "colour": "red"},
    {"trigger": {"expect": ["x"]}, "actions": []},
])
def test_what_the_parser_refuses_an_editor_flags(validator, automation):
    from tocsin.automations.model import parse_automation
    from tocsin.errors import InvalidInput

    with pytest.raises(InvalidInput):
        parse_automation(automation)
    assert list(validator.iter_errors(automation)) != []
