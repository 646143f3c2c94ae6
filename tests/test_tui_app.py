"""App-wide behaviour: quitting, help, themes, the command palette, and `tocsin` itself."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from textual.command import CommandPalette
from tocsin.client.sync import SyncClient
from tocsin.errors import DaemonNotRunning
from tocsin_tui.app import DARK, LIGHT, TocsinApp
from tocsin_tui.screens.automation_editor import AutomationEditorScreen
from tocsin_tui.screens.automations import AutomationsScreen
from tocsin_tui.screens.help import HelpScreen
from tui_helpers import wait_for


async def test_q_quits_from_a_main_screen_but_types_in_the_filter(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "q")
        assert app.screen.query_one("#filter").value == "q" and app.is_running
        await pilot.press("enter", "2")
        assert isinstance(app.screen, AutomationsScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_help_screen_and_theme_toggle(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        assert app.theme == DARK
        await pilot.press("ctrl+t")
        assert app.theme == LIGHT and not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.theme == DARK


async def test_command_palette_lists_every_screen_and_the_screens_actions(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Events", "Automations", "Template preview", "Help", "Light/dark theme",
                       "Events: Pause", "Events: Emit", "Events: Copy JSON", "Events: Older",
                       "Events: Filter", "Automations: New", "Automations: Edit",
                       "Automations: On/off", "Automations: Inspect", "Automations: Delete",
                       "Template preview: Pick event", "Template preview: Paste event"):
            assert wanted in titles
        new = next(c for c in app.get_system_commands(app.screen)
                   if c.title == "Automations: New")
        await new.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen),
                       what="the editor, from the feed's palette")
        await pilot.press("escape", "1")
        await pilot.press("e")  # a dialog: its own actions are listed too
        assert "Emit" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"autom")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AutomationsScreen),
                       what="automations screen from the palette")


def _read_until_quiet(fd: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_tocsin_with_no_command_opens_the_dashboard_and_starts_a_daemon():
    """The real command in a real terminal (a pty): no daemon runs, so it starts one."""
    tmp = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
    socket = tmp / "s.sock"
    env = {**os.environ, "TOCSIN_HOME": str(tmp / "home"), "TOCSIN_SOCKET": str(socket),
           "TERM": "xterm-256color"}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "tocsin.cli.main"], stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    pid = None
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while pid is None and time.monotonic() < deadline:
            seen += _read_until_quiet(master, 0.2)
            try:
                with SyncClient(socket, timeout=2) as c:
                    pid = c.health()["pid"]
            except (DaemonNotRunning, OSError):
                pass
        assert pid is not None, "the dashboard did not start a daemon"
        seen += _read_until_quiet(master, 0.5)
        assert b"Daemon started" in seen and b"following" in seen and proc.poll() is None
        os.write(master, b"q")
        assert proc.wait(15) == 0
        tail = _read_until_quiet(master, 0.5)
        assert b"keeps running" in tail
        with SyncClient(socket, timeout=2) as c:  # the daemon outlives the dashboard
            assert c.health()["pid"] == pid
    finally:
        if proc.poll() is None:
            proc.kill()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        os.close(master)
        shutil.rmtree(tmp, ignore_errors=True)


async def test_ctrl_q_quits_from_a_dialog_and_an_editor(daemon):
    for keys in (("e",), ("3",)):  # the emit form (a text field has focus); the Jinja editor
        app = TocsinApp(str(daemon.socket), autostart=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*keys)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running


def test_dashboard_without_a_terminal_exits_2_quickly_and_points_at_the_cli(tmp_path):
    """`tocsin </dev/null | cat`, `tocsin > file`, `echo foo | tocsin tui` used to start the
    full-screen app, write escape codes into the pipe and never exit."""
    env = {**os.environ, "TOCSIN_HOME": str(tmp_path / "home"),
           "TOCSIN_SOCKET": str(tmp_path / "s.sock")}
    master, slave = pty.openpty()
    cases = [([], {"stdin": subprocess.DEVNULL}, "stdin"),  # tocsin </dev/null | cat
             (["tui"], {"input": b"foo\n"}, "stdin"),       # echo foo | tocsin tui
             ([], {"stdin": slave}, "stdout")]               # tocsin > file
    try:
        for argv, stdin, what in cases:
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "tocsin.cli.main", *argv], **stdin,
                                  capture_output=True, env=env, timeout=20, check=False)
            assert proc.returncode == 2, (argv, proc.stderr)
            assert proc.stdout == b""  # no escape codes in the pipe
            message = proc.stderr.decode()
            assert "needs a terminal" in message and what in message
            assert "tocsin events ls" in message
            assert time.monotonic() - started < 10
        assert not (tmp_path / "s.sock").exists()  # no daemon was started either
    finally:
        os.close(master)
        os.close(slave)
