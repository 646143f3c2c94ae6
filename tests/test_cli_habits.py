"""CLI habits: --version, shell completion, tables with header rows, the list commands, and
one message style for every create and delete."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


def tocsin(*args: str, d=None) -> subprocess.CompletedProcess[str]:
    sock = ["--socket", str(d.socket)] if d is not None else []
    return subprocess.run([*TOCSIN, *sock, *args], capture_output=True, text=True, timeout=30,
                          check=False)


def ok(*args: str, d=None) -> str:
    out = tocsin(*args, d=d)
    assert out.returncode == 0, (args, out.stderr)
    return out.stdout


def test_version_is_the_installed_distributions():
    assert ok("--version").strip() == f"tocsin {importlib.metadata.version('tocsin')}"


def _complete(script: str, *words: str) -> list[str]:
    """What bash offers after `words` (the last one being typed), with the script sourced."""
    line = " ".join(words)
    probe = (f'source /dev/stdin; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; '
             f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_tocsin; '
             'printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", probe], input=script, capture_output=True, text=True,
                         timeout=30, check=True)
    return out.stdout.split()


def test_bash_completion_offers_commands_subcommands_and_choices():
    script = ok("completion", "bash")
    assert _complete(script, "tocsin", "autom") == ["automation"]
    assert "schema" in _complete(script, "tocsin", "automation", "s")
    assert _complete(script, "tocsin", "completion", "''") == ["bash", "zsh", "fish"]
    assert "ls" in _complete(script, "tocsin", "work-queue", "''")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell):
    script = ok("completion", shell)
    for command in ("emit", "automation", "work-queue", "daemon", "completion"):
        assert command in script
    if shutil.which(shell):  # when the shell is installed, it parses the script
        subprocess.run([shell, "-n"], input=script, text=True, timeout=30, check=True)


def test_completion_of_an_unknown_shell_is_a_usage_error():
    assert tocsin("completion", "tcsh").returncode == 2


def test_every_list_has_a_header_row_and_says_what_it_did(daemon, tmp_path):
    rows = lambda *args: [line.split() for line in ok(*args, d=daemon).splitlines()]
    # An empty list prints no table (a hint on stderr), so `| wc -l` counts what is there.
    empty = tocsin("automation", "ls", d=daemon)
    assert empty.stdout == "" and "no automations" in empty.stderr

    assert ok("automation", "apply", "-f", str(ROOT / "samples/automations/woodchonk.yaml"),
              d=daemon).startswith("created automation woodchonk (")
    assert rows("automation", "ls")[0] == ["NAME", "STATE", "TRIGGER", "ID"]
    assert rows("automation", "ls")[1][:3] == ["woodchonk", "enabled", "event"]
    assert ok("automation", "pause", "woodchonk", d=daemon).startswith("paused automation woodchonk (")

    ok("block", "create", "ops", "--url", "json://127.0.0.1:9/x", d=daemon)
    assert rows("block", "ls")[0] == ["NAME", "KIND", "ID", "TARGET"]
    assert ok("block", "delete", "ops", d=daemon) == "deleted block ops\n"

    template = tmp_path / "t.j2"
    template.write_text('{"event": "x", "resource": {"prefect.resource.id": "r"}}')
    ok("webhook", "create", "one", "--template", str(template), d=daemon)
    assert rows("webhook", "ls")[0] == ["NAME", "AUTH", "URL"]
    assert rows("webhook", "ls")[1][:2] == ["one", "[none]"]
    assert ok("webhook", "delete", "one", d=daemon) == "deleted webhook one\n"  # said nothing

    assert ok("work-pool", "create", "gpu", d=daemon).startswith("saved work pool gpu (")
    assert ok("work-queue", "create", "fast", "--pool", "gpu", "--priority", "2",
              d=daemon).startswith("saved work queue gpu/fast (")
    pools = ok("work-pool", "ls", d=daemon)
    assert pools.split("\n")[0].split() == ["POOL", "STATUS", "LIMIT", "QUEUES"]
    assert "None" not in pools and ["gpu", "READY", "none", "default,", "fast"] in [
        line.split() for line in pools.splitlines()]
    queues = rows("work-queue", "ls", "--pool", "gpu")
    assert queues[0] == ["POOL", "QUEUE", "STATUS", "PRIORITY", "LIMIT"]
    assert ["gpu", "fast", "READY", "2", "none"] in queues
    listed = json.loads(ok("work-queue", "ls", "--json", d=daemon))
    assert {(q["work_pool_name"], q["name"]) for q in listed} >= {("gpu", "fast"),
                                                                 ("default", "default")}
    assert ok("work-queue", "pause", "fast", "--pool", "gpu",
              d=daemon).startswith("paused work queue gpu/fast (")
