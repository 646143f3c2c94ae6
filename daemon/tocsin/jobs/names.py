"""Flow run names in Prefect's style (`adjective-animal`), so runs are easy to tell apart."""

from __future__ import annotations

import random

ADJECTIVES = ("amber", "brave", "calm", "daring", "eager", "fancy", "gentle", "happy", "icy",
              "jolly", "keen", "lively", "merry", "nimble", "olive", "proud", "quick", "rosy",
              "shiny", "tidy", "umber", "vivid", "witty", "young", "zesty", "bold", "cosmic",
              "dusty", "fuzzy", "golden", "humble", "lucky", "misty", "noble", "rapid", "silver")
ANIMALS = ("ant", "bat", "cat", "dingo", "eel", "fox", "gecko", "heron", "ibis", "jackal",
           "koala", "lemur", "mole", "newt", "otter", "panda", "quail", "raven", "seal", "tapir",
           "urchin", "vole", "wombat", "yak", "zebra", "badger", "crane", "dove", "finch",
           "goose", "hare", "lynx", "moose", "owl", "puffin", "robin", "swan", "toad", "wolf")


def run_name() -> str:
    return f"{random.choice(ADJECTIVES)}-{random.choice(ANIMALS)}"
