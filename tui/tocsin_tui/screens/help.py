"""The help screen, generated from the bindings themselves: every screen's keys (hidden ones
too) with what they do and their binding id, as the user's keymap has them.

Nothing here is written twice: a new binding, a new screen in screen_list, or a key rebound
in the keymap file shows up here by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from ..screen_list import APP_BINDINGS, MAIN_SCREENS, SUB_SCREENS, load
from ..widgets.list_keys import LIST_KEYS

Section = tuple[str, str, list[Binding]]


def described(bindings: list[BindingType]) -> list[Binding]:
    return [b for b in bindings if isinstance(b, Binding) and b.description]


def binding_sections() -> Iterator[Section]:
    """(title, what it is for, bindings) for the app, the lists and every screen."""
    from ..widgets.event_list import EventList

    yield "Everywhere", "ctrl+p opens the command palette; ctrl+q quits from anywhere.", \
        described(APP_BINDINGS)
    yield "In every list", "", list(LIST_KEYS)
    for screen in MAIN_SCREENS:
        bindings = described(screen.load().BINDINGS)
        if screen.mode == "feed":
            bindings += [b for b in described(EventList.BINDINGS) if b not in LIST_KEYS]
        yield f"{screen.label} ({screen.key})", screen.about + ".", bindings
    for label, target in SUB_SCREENS:
        screen_class = load(target)
        yield label, (screen_class.__doc__ or "").strip().split("\n\n")[0], \
            described(screen_class.BINDINGS)


def known_ids() -> set[str]:
    return {b.id for _, _, bindings in binding_sections() for b in bindings if b.id}


def help_markdown(keymap: dict[str, str], key_display: Callable[[Binding], str]) -> str:
    """The help as Markdown; `key_display` formats one key as the footer does."""
    rebind = ("Keys are rebound by id in the keymap file (`$TOCSIN_KEYMAP`, else "
              "`~/.config/tocsin/keymap.toml`): a `[keys]` table such as "
              "`\"list.down\" = \"j,down\"`.")
    out = ["# tocsin dashboard", "", rebind]
    for title, about, bindings in binding_sections():
        out += ["", f"## {title}"]
        if about:
            out += [about, ""]
        out += ["| key | does | id |", "|---|---|---|"]
        for b in bindings:
            keys = keymap.get(b.id or "", b.key)
            shown = b.key_display if b.key_display and (b.id or "") not in keymap else \
                " ".join(key_display(Binding(k, "")) for k in keys.split(","))
            does = b.description + (f" — {b.tooltip}" if b.tooltip else "")
            out.append(f"| `{shown}` | {does} | {b.id or ''} |")
    return "\n".join(out) + "\n"


class HelpScreen(ModalScreen[None]):
    """Every key, screen by screen."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "app.pop_screen", "Close", id="help.close",
                key_display="esc", tooltip="Close the help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(help_markdown(getattr(self.app, "keymap", {}), self.app.get_key_display))
