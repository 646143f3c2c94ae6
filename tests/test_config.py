"""The config schema: typed tables, one duration parser, `daemon --check`, the README's
reference kept equal to the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from tocsin.config import Config, load_config
from tocsin.configdoc import reference
from tocsin.durations import parse_duration, parse_time
from tocsin.errors import ConfigError

ROOT = Path(__file__).parent.parent
TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


def tocsin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOCSIN, *args], env=env, capture_output=True, text=True, timeout=30,
                          check=False)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


@pytest.mark.parametrize(("text", "table", "key"), [
    ("colour = 1\n", "top-level", "colour"),
    ("[engine]\nidle_tll = 1\n", "[engine]", "idle_tll"),
    ("[actions]\nretries = 1\n", "[actions]", "retries"),
    ("[jobs]\ngrace = 1\n", "[jobs]", "grace"),
    ("[webhooks]\nbind = 'x'\n", "[webhooks]", "bind"),
    ("[[watch]]\npath = 'a'\nfollow = true\n", "`watch[0]`", "follow"),
])
def test_an_unknown_key_is_refused_naming_the_file_the_table_and_the_key(tmp_path, text, table, key):
    message = refusal(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'c.toml'}: ") and table in message
    assert f"`{key}`" in message and ("(it has: " in message or "(there are: " in message)


def test_every_table_is_typed_and_durations_are_decoded_once_to_seconds(tmp_path):
    c = load(tmp_path, 'retention = "2d"\nprune_interval = 90\n[engine]\nidle_ttl = "PT1H"\n'
             '[jobs]\ncancel_grace_seconds = "500ms"\n[actions]\nconcurrency = 3\n'
             '[[watch]]\npath = "a"\nignore_older = "1w"\n')
    assert (c.retention, c.prune_interval, c.engine.idle_ttl) == (172800, 90, 3600)
    assert c.jobs.cancel_grace_seconds == 0.5 and c.actions.concurrency == 3
    assert c.watch[0].ignore_older == 604800 and c.watch[0].rotate_wait == 5
    assert c.watch[0].template_time_limit == 0.05  # regex templates: far under /health's 100 ms
    # plain floats once decoded: any part can put them in JSON
    assert type(c.retention) is float
    assert json.loads(msgspec.json.encode(c))["engine"]["idle_ttl"] == 3600


def test_every_wrong_setting_is_reported_at_once(tmp_path):
    lines = refusal(tmp_path, 'retention = "soon"\nmax_event_bytes = 10\n[engine]\n'
                    'loop_depth = -1\n[jobs]\nlate_after_seconds = -3\n'
                    '[[watch]]\npath = "a"\n[[watch]]\npath = "b"\nformat = "csv"\n').splitlines()
    assert len(lines) == 5, lines
    for where in ("`retention`", "`max_event_bytes`", "[engine] `loop_depth`",
                  "[jobs] `late_after_seconds`", "`watch[1].format`"):
        assert any(where in line for line in lines), (where, lines)


def test_the_duration_parser_takes_units_iso_and_seconds_and_triggers_only_prefects_forms():
    for text, seconds in (("90", 90), (12.5, 12.5), ("500ms", 0.5), ("15m", 900), ("2h", 7200),
                          ("7d", 604800), ("1w", 604800), ("PT10M", 600), ("P1DT1S", 86401)):
        assert parse_duration(text).total_seconds() == seconds
    for bad in ("soon", "", "P", "PT", "5 parsecs", True, None):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match=r"seconds \(600\) or ISO 8601"):
        parse_duration("15m", units=False)  # a trigger's `within`: what Prefect reads too
    from tocsin.automations.model import parse_within

    assert parse_within("PT15M") == 900
    with pytest.raises(ValueError):
        parse_within("15m")


def test_a_time_is_iso_8601_or_an_age_back_from_now():
    before = datetime.now(UTC)
    t = parse_time("2h")
    assert before - timedelta(hours=2) <= t <= datetime.now(UTC) - timedelta(hours=2)
    assert parse_time("2026-01-01T00:00:00", naive=UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:00").tzinfo is not None  # local time, zone attached
    with pytest.raises(ValueError, match="is neither an ISO 8601 time"):
        parse_time("yesterday")


def test_replay_since_takes_an_age_as_events_ls_does(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntrigger: {expect: [x]}\nactions: [{type: do-nothing}]\n")
    (tmp_path / "e.jsonl").write_text(json.dumps({"event": "x", "occurred": datetime.now(UTC).isoformat(),
                                                  "resource": {"prefect.resource.id": "r"}}) + "\n")
    args = ["replay", "--automations", str(tmp_path / "a.yaml"), "--events",
            str(tmp_path / "e.jsonl")]
    out = tocsin(*args, "--since", "1h")
    assert out.returncode == 0 and '"state": "triggered"' in out.stdout, out.stderr
    out = tocsin(*args, "--since", "later")
    assert out.returncode == 65 and "--since" in out.stderr


def test_daemon_check_validates_without_starting_anything(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "TOCSIN_HOME": str(home), "TOCSIN_SOCKET": str(tmp_path / "s")}
    bad = tmp_path / "bad.toml"
    bad.write_text('colour = "red"\n[engine]\nidle_ttl = "soon"\n')
    out = tocsin("daemon", "--check", "--config", str(bad), env=env)
    assert out.returncode == 78 and "Traceback" not in out.stderr, out.stderr
    assert "`colour`" in out.stderr and "[engine] `idle_ttl`" in out.stderr
    assert out.stderr.count(str(bad)) == 2
    for sample in sorted((ROOT / "samples").glob("*.toml")):
        out = tocsin("daemon", "--check", "--config", str(sample), env=env)
        assert out.returncode == 0 and "valid" in out.stdout, (sample, out.stderr)
    assert not home.exists() and not (tmp_path / "s").exists()


def test_the_readme_config_reference_is_the_schemas():
    readme = (ROOT / "README.md").read_text()
    assert reference() in readme, ("the README's config reference differs from the schema in "
                                   "tocsin/config.py: paste the output of "
                                   "`python -m tocsin.configdoc` over it")
    # and every setting of every table is in it
    for field in msgspec.structs.fields(Config):
        assert f"`{field.name}`" in reference() or f"[{field.name}]" in reference()
