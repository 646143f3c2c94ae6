"""How CLI commands show what they list and say what they did — written once, so every list
takes `--json` the same way and every create/delete reads the same.

Data goes to stdout; the hint for an empty list goes to stderr, so `| wc -l` counts rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .link import client

if TYPE_CHECKING:
    from ..client.sync import SyncClient

#: A column: its header and how to read it from one item of the list.
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def show_list(items: list[dict[str, Any]], as_json: bool, columns: list[Column],
              empty: str) -> int:
    """`--json`: the items as the API gave them; else a table with a header row."""
    if as_json:
        print(json.dumps(items, indent=2))
    elif not items:
        print(empty, file=sys.stderr)
    else:
        print(table([[h for h, _ in columns],
                     *([_cell(read(item)) for _, read in columns] for item in items)]))
    return 0


def list_command(args: Any, fetch: Callable[[SyncClient], list[dict[str, Any]]],
                 columns: list[Column], empty: str) -> int:
    """A whole list command: `fetch` the items from the daemon named by `--socket` (e.g.
    `lambda c: c.blocks.list()`), then show them (`args.json` picks how)."""
    with client(args) as daemon:
        items = fetch(daemon)
    return show_list(items, args.json, columns, empty)


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last one not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def done(verb: str, kind: str, name: str, ident: str | None = None) -> None:
    """What a create, update or delete did, in one style: `created work pool gpu (ID)`."""
    print(f"{verb} {kind} {name}" + (f" ({ident})" if ident else ""))
