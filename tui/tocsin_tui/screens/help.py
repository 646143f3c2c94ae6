"""The help screen: what each screen is for and every key, including the hidden ones."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# tocsin dashboard

**1** events · **2** automations · **3** template preview · **ctrl+p** command palette ·
**ctrl+t** light/dark · **q** quit (main screens) · **ctrl+q** quit anywhere

## Events (1)
| key | does |
|---|---|
| `/` | filter: `order.*` (name wildcard), `order` (name or resource id contains), `key=value` (resource label, `id=` for the resource id); terms combine |
| `space` | pause / resume following (the badge counts what arrived meanwhile) |
| `↑ ↓ pgup pgdn home end` | move; moving up pauses, `end` follows again |
| `enter` | the whole event as JSON (from 120 columns it also shows beside the list) |
| `c` | copy the selected event's JSON |
| `e` | emit a test event |
| `o` | load older events from the store |
| `t` | template preview with the selected event |

## Automations (2)
| key | does |
|---|---|
| `n` | new automation (YAML editor) |
| `enter` / `e` | edit the selected automation |
| `space` | enable / disable |
| `i` | inspect: live buckets and recent firings |
| `d` | delete (asks first) |
| `t` | template preview with the automation's first templated action |
| `r` | refresh now |

In the editor the daemon checks the YAML as you type; errors show under the editor and
their lines are marked. **ctrl+s** saves, **ctrl+o** previews the template of the action
under the cursor, **esc** goes back (asking first if there are unsaved changes); **tab**
leaves the editor (indent with spaces).
The inspect view (**i**) shows the open buckets — count, window, deadline — and the recent
firings with what became of each action; it refreshes every second.

## Template preview (3)
Type a Jinja template on the left; the right shows what the daemon renders for the chosen
event, exactly as an action would (errors show with their line, which is marked).
**ctrl+o** picks an event from the feed, **ctrl+g** pastes event JSON, **esc** leaves the
editor so that **q** quits.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "app.pop_screen", "Close", id="help.close",
                key_display="esc", tooltip="Close the help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
