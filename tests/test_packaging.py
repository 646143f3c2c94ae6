"""Packaging promises: light CLI imports, the right top-level packages, a working unit file."""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("textual", "aiosqlite", "apprise", "jinja2", "aiohttp", "watchfiles", "shtab")


def test_cli_and_client_do_not_import_heavy_libraries():
    code = (
        "import sys, tocsin, tocsin.cli.main, tocsin.client, tocsin.client.sync\n"
        "tocsin.cli.main.build_parser()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_tocsin_and_tocsin_tui_are_top_level():
    # From outside the checkout, so its folders are not on the path by accident.
    code = ("import importlib.util as u; "
            "print([n for n in ('tocsin', 'tocsin_tui', 'daemon', 'tui') if u.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/")
    assert out.stdout.strip() == "['tocsin', 'tocsin_tui']"


def test_sample_unit_is_a_notify_user_service_that_starts():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "samples" / "tocsin.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].endswith("tocsin daemon")
    assert unit["Install"]["WantedBy"] == "default.target"
    # Run its ExecStart as systemd would for a user (XDG_RUNTIME_DIR set, NOTIFY_SOCKET given).
    runtime = Path(tempfile.mkdtemp(dir="/tmp"))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(runtime / "notify"))
    notify.settimeout(20)
    exe = shutil.which("tocsin") or str(Path(sys.executable).with_name("tocsin"))
    cmd = service["ExecStart"].replace("%h/.local/bin/tocsin", exe).split()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "TOCSIN_HOME": str(runtime / "home"),
           "NOTIFY_SOCKET": str(runtime / "notify")}
    env.pop("TOCSIN_SOCKET", None)
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        assert notify.recv(64) == b"READY=1"
        assert (runtime / "tocsin" / "tocsin.sock").is_socket()
    finally:
        proc.terminate()
        proc.wait(15)
        notify.close()
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_command_table_names_every_command_its_module_registers():
    import argparse
    import importlib

    from tocsin.cli.main import COMMANDS, build_parser, command_of

    for module in set(COMMANDS.values()):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"tocsin.cli.{module}").register(sub)
        assert {c for c, m in COMMANDS.items() if m == module} == set(sub.choices), module
    assert command_of(["--socket", "/x", "emit", "a"]) == "emit"
    assert command_of(["--help"]) is None
    assert build_parser("emit").parse_args(["emit", "x", "--socket", "/s"]).socket == "/s"


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys keep their case, as systemd reads them
    unit.read(ROOT / "samples" / name)
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_system_unit_rates_ok_on_systemd_analyze_security():
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                          str(ROOT / "samples" / "tocsin-system.service")],
                         capture_output=True, text=True, timeout=60)
    exposure = float(out.stdout.rsplit("Overall exposure level", 1)[1].split(":")[1].split()[0])
    assert exposure <= 3.0, out.stdout


def test_system_unit_runs_as_its_own_user_in_state_and_runtime_directories():
    service = _unit("tocsin-system.service")["Service"]
    assert (service["User"], service["StateDirectory"], service["RuntimeDirectory"]) == \
        ("tocsin", "tocsin", "tocsin")
    assert service["ExecStart"].endswith(
        "tocsin daemon --home %S/tocsin --socket %t/tocsin/tocsin.sock")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectSystem", "ProtectHome"):
        assert service[key] in ("yes", "strict")
    assert service["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert service["RestartPreventExitStatus"] == "4" == _unit("tocsin.service")["Service"][
        "RestartPreventExitStatus"]
