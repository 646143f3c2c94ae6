"""`tocsin completion bash|zsh|fish`: a completion script, written by shtab from the very
parser `tocsin` uses. The script is static — a shell sources it once — so completion costs
`tocsin emit` nothing at start-up (argcomplete would run Python on every TAB and hook every
start)."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("completion", help="print a shell completion script",
                       description="Print a completion script for SHELL. For bash: "
                       "`tocsin completion bash > ~/.local/share/bash-completion/completions/"
                       "tocsin`; zsh: into a folder on $fpath as `_tocsin`; fish: "
                       "`tocsin completion fish > ~/.config/fish/completions/tocsin.fish`.")
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=completion)


def completion(args: argparse.Namespace) -> int:
    import shtab

    from .main import build_parser

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0
