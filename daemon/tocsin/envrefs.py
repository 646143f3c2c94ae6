"""`{env:NAME}` references: secrets kept in the daemon's environment, not in its store.

Block URLs and header values, and webhook shared secrets, may contain `{env:NAME}`; what is
stored and shown is the reference as typed, and the value is looked up each time it is used
(an action's send, a webhook request). Braces are not allowed unescaped in a URL (RFC 3986:
apprise URLs write them as `%7B`/`%7D`), so a reference never collides with one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import TocsinError

REF = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingEnv(TocsinError):
    """A reference names a variable the daemon's environment does not have."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the environment variable {name} (referenced as {{env:{name}}}) is not "
                         "set in the daemon's environment; set it where the daemon starts (for "
                         "systemd: Environment= or EnvironmentFile= in the unit) and restart it")


def has_refs(text: str) -> bool:
    return REF.search(text) is not None


def resolve(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every reference replaced by its variable's value; MissingEnv if unset."""
    env = os.environ if environ is None else environ

    def value(m: re.Match[str]) -> str:
        try:
            return env[m.group(1)]
        except KeyError:
            raise MissingEnv(m.group(1)) from None

    return REF.sub(value, text)


#: What may stand beside references in a value still shown as typed (`Bearer {env:TOKEN}`).
_SHOWN_WITH_REFS = {"", "bearer", "basic", "token"}
MASK = "****"


def masked(value: str) -> str:
    """A secret as it may be shown: `****`, or as typed when it holds nothing but references
    (they name a variable, they do not tell its value) and an auth scheme."""
    rest = REF.sub("", value).strip().lower()
    return value if has_refs(value) and rest in _SHOWN_WITH_REFS else MASK


def resolved_values(text: str) -> list[str]:
    """The values of the references in `text` that are set (for scrubbing error text)."""
    return [os.environ[name] for name in REF.findall(text) if name in os.environ]
