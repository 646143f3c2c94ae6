"""The design notes the comments cite live in docs/, and every citation points at something
written there: a `§N.N` at a heading, a decision, rule or case at a numbered item."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
SECTION = re.compile(r"§(\d+)(?:\.(\d+))?")
DECISION = re.compile(r"decisions? (\d+)")
RULE = re.compile(r"DESIGN rule (\d+)")
LOG_ITEMS = re.compile(r"§(\d+) (?:cases?|rules?) ([\d\-, and]+)")


def _sources() -> list[tuple[Path, int, str]]:
    lines = []
    for folder in ("daemon", "tui", "tests", "samples"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".yaml", ".toml") and path.name != "test_docs.py":
                for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    lines.append((path, n, line))
    return lines


def _headings(doc: str) -> set[str]:
    """`## 5. Title` -> "5", `### 5.2 Title` -> "5.2"."""
    return {m.group(1) for m in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", doc, re.MULTILINE)}


def _items(doc: str, heading: str) -> set[int]:
    """The numbers of the numbered list under a heading (up to the next one of its level)."""
    start = doc.index(heading)
    level = heading.split(" ")[0]
    end = doc.find(f"\n{level} ", start + len(heading))
    body = doc[start:end if end != -1 else None]
    return {int(n) for n in re.findall(r"^(\d+)\. ", body, re.MULTILINE)}


def _numbers(text: str) -> set[int]:
    """"8-22" -> 8..22; "1 and 10" -> {1, 10}."""
    out: set[int] = set()
    for a, b in re.findall(r"(\d+)(?:-(\d+))?", text):
        out.update(range(int(a), int(b or a) + 1))
    return out


def test_every_cited_note_is_in_docs():
    semantics = (DOCS / "prefect-semantics.md").read_text()
    logs = (DOCS / "log-watching.md").read_text()
    design = (DOCS / "DESIGN.md").read_text()
    known = {"semantics": _headings(semantics), "logs": _headings(logs)}
    decisions = _items(semantics, "## tocsin's decisions")
    rules = _items(design, "## Rules")
    cases, log_rules = _items(logs, "## 6. "), _items(logs, "## 7. ")
    missing, cited = [], 0
    for path, n, line in _sources():
        where = f"{path.relative_to(ROOT)}:{n}"
        doc = "logs" if "log-watching" in line else "semantics"
        for m in SECTION.finditer(line):
            cited += 1
            if m.group(0)[1:] not in known[doc]:
                missing.append(f"{where}: {m.group(0)} is not a heading of docs/{doc}")
        for m in DECISION.finditer(line):
            cited += 1
            if int(m.group(1)) not in decisions:
                missing.append(f"{where}: decision {m.group(1)} is not in prefect-semantics.md")
        for m in RULE.finditer(line):
            cited += 1
            if int(m.group(1)) not in rules:
                missing.append(f"{where}: DESIGN rule {m.group(1)} is not in DESIGN.md")
        for m in LOG_ITEMS.finditer(line):
            items = cases if m.group(1) == "6" else log_rules
            gone = _numbers(m.group(2)) - items
            if gone:
                missing.append(f"{where}: log-watching §{m.group(1)} has no {sorted(gone)}")
        if "DESIGN.md" in line and not (DOCS / "DESIGN.md").exists():
            missing.append(f"{where}: cites DESIGN.md")
    assert missing == []
    assert cited > 40  # the scan found the citations (a broken pattern would find none)


def test_the_docs_index_names_each_note():
    index = (DOCS / "README.md").read_text()
    for note in sorted(DOCS.glob("*.md")):
        if note.name != "README.md":
            assert f"]({note.name})" in index, note.name
