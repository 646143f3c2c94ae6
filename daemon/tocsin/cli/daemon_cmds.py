"""`tocsin daemon`, `tocsin status` and `tocsin tui`."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daemon", help="run the daemon in the foreground")
    p.add_argument("--home", help="state directory (default: $TOCSIN_HOME, else "
                   "$XDG_STATE_HOME/tocsin)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="DEBUG, INFO, WARNING or ERROR (default from config: INFO)")
    p.add_argument("--check", action="store_true",
                   help="validate the config and exit (0, or 78 with every error); starts nothing")
    p.set_defaults(func=run_daemon)

    p = sub.add_parser("status", help="is the daemon running, and what is it doing")
    p.add_argument("--json", action="store_true", help="print the daemon's status as JSON")
    p.set_defaults(func=status)

    p = sub.add_parser("tui", help="open the dashboard (the default with no command)")
    p.set_defaults(func=lambda args: __import__(
        "tocsin.cli.tui_cmd", fromlist=["run_tui"]).run_tui(args))


def run_daemon(args: argparse.Namespace) -> int:
    if args.check:
        return check_config(args.config)
    from ..compose import build_components
    from ..server.daemon import run_daemon as run

    return run(args.home, args.socket, args.config, args.log_level, build_components)


def check_config(path: str | None) -> int:
    """What the daemon checks before it starts — the file, then each part's own settings —
    and nothing more: no home, no lock, no socket. Errors raise ConfigError (exit 78)."""
    from pathlib import Path

    from ..compose import build_components
    from ..config import load_config

    config = load_config(Path(path) if path else None)
    for component in build_components():
        component.check(config)
    print(f"{path}: valid" if path else "no --config: the embedded defaults are valid")
    return 0


def status(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient

    with SyncClient(args.socket) as client:
        info = client.health()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"tocsin {info['version']} running (pid {info['pid']}, up {info['uptime_s']:.0f}s)")
    if info.get("problem"):
        print(f"  PROBLEM  {info['problem']}")
    print(f"  socket   {info['socket']}")
    print(f"  home     {info['home']}")
    if "store" in info:
        sizes = info["store"]
        print(f"  store    database {_mib(sizes['bytes'])}, WAL {_mib(sizes['wal_bytes'])}")
    for name, counters in info.get("components", {}).items():
        if counters:
            print(f"  {name:<8} {_counters(counters)}")
    sys.stdout.flush()
    return 0


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _counters(counters: dict) -> str:
    """`k v, k v`; nested ones (a watch source's) in parentheses, not as a Python dict."""
    return ", ".join(f"{k} ({_counters(v)})" if isinstance(v, dict) else f"{k} {v}"
                     for k, v in counters.items())
