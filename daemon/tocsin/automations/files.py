"""Reading automations from YAML or JSON text, with errors that point at lines.

A file holds one automation, or several in any of these forms (documented in the README):

- a list of automation objects;
- an object with an `automations:` list;
- YAML documents separated by `---`, each one automation (or one of the forms above).

JSON is YAML, so one reader serves both. Errors carry the field path and, because the YAML
nodes remember where they were read, the line of the offending field (1-based). The same marks
give each automation its own text, as typed, which the daemon keeps as its source.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidInput
from .model import MAX_TRIGGER_DEPTH, Automation, parse_automation


class FileError(InvalidInput):
    """InvalidInput whose entries also know their line (`lines[i]` for `errors[i]`)."""

    def __init__(self, errors: list[tuple[str, str]], lines: list[int | None],
                 source: str = "") -> None:
        super().__init__(errors)
        self.lines = lines
        self.source = source

    def as_json(self) -> list[dict[str, Any]]:
        out = []
        for (loc, msg), line in zip(self.errors, self.lines):
            entry: dict[str, Any] = {"loc": loc, "msg": msg}
            if line is not None:
                entry["line"] = line
            out.append(entry)
        return out

    def lines_text(self) -> str:
        """One `FILE:LINE: loc: message` line per error, for people."""
        where = self.source or "<input>"
        out = []
        for (loc, msg), line in zip(self.errors, self.lines):
            at = f"{where}:{line}" if line is not None else where
            out.append(f"{at}: {loc}: {msg}" if loc else f"{at}: {msg}")
        return "\n".join(out)


#: libyaml's parser where PyYAML was built with it: 10,000 automations parse in a fraction
#: of a second instead of several
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_text(text: str, source: str = "") -> list[Automation]:
    """Every automation in a YAML/JSON text; raises FileError listing every problem."""
    return [automation for automation, _ in _parse(text, source, cut=False)]


def parse_sourced(text: str, source: str = "") -> list[tuple[Automation, str]]:
    """Every automation in a YAML/JSON text with its own text as typed (the whole text when
    it holds one automation, else that document's or list item's lines, with the comment
    lines just above it); raises FileError listing every problem."""
    return _parse(text, source, cut=True)


def _parse(text: str, source: str, cut: bool) -> list[tuple[Automation, str]]:
    """Each automation with its own text (the whole text unless `cut`).

    The node tree (slow to build) is built only when it is needed: to place errors on their
    lines, or to cut a text holding several automations into each one's lines."""
    nodes: list[yaml.Node] | None = None
    try:
        docs, nodes = _documents(text)
        deep_at = _nested_too_deep_at(text) if _deeper_than(docs, MAX_NESTING) else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise FileError([("", f"not valid YAML/JSON: {exc}")], [line], source) from None
    except RecursionError:  # a reader's stack ran out: find where with the event parser
        deep_at = _nested_too_deep_at(text) or 1
        docs = []
    if deep_at is not None:
        raise FileError([("", f"nested more than {MAX_NESTING} levels deep (triggers nest "
                              f"at most {MAX_TRIGGER_DEPTH})")], [deep_at], source)
    found = _found(docs, [None] * len(docs))
    if not found:
        message = ("no automations found (expected an automation object, a list, or an "
                   "`automations:` list)")
        raise FileError([("", message)], [None], source)
    texts = _own_texts(text, docs, nodes) if cut and len(found) > 1 else [text] * len(found)
    automations: list[tuple[Automation, str]] = []
    errors: list[tuple[str, str]] = []
    failed: list[tuple[int, str]] = []  # (which automation, the error's own loc)
    for index, ((prefix, data, _), own) in enumerate(zip(found, texts, strict=True)):
        try:
            automations.append((parse_automation(data), own))
        except InvalidInput as exc:
            for loc, msg in exc.errors:
                errors.append((prefix + loc if loc else prefix.rstrip(". "), msg))
                failed.append((index, loc))
    if errors:
        placed = _found(docs, nodes or _nodes(text))
        lines = [_line_of(placed[index][2], loc) for index, loc in failed]
        raise FileError(errors, lines, source)
    return automations


def _nodes(text: str) -> list[yaml.Node]:
    return list(yaml.compose_all(text, Loader=_LOADER))


def _own_texts(text: str, docs: list[Any], nodes: list[yaml.Node] | None) -> list[str]:
    """Each automation's own text in a text holding several (`nodes`: its node tree, if
    built already)."""
    items = _json_items(text) if len(docs) == 1 and isinstance(docs[0], list) else None
    if items is not None:
        return items
    return [_own_text(text, node) for _, _, node in _found(docs, nodes or _nodes(text))]


_SPACE = re.compile(r"\s*")


def _json_items(text: str) -> list[str] | None:
    """Each item's text of a JSON list, cut with the json module's own scanner (10,000 in a
    fraction of a second, where YAML's node tree takes seconds), or None if the text is not
    a JSON list (YAML's flow style looks alike)."""
    decoder = json.JSONDecoder()
    at = _SPACE.match(text).end() + 1  # type: ignore[union-attr]
    items: list[str] = []
    try:
        while True:
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            if text[at] == "]":
                return items
            _, end = decoder.raw_decode(text, at)
            items.append(_dedented(text, at, end) + "\n")
            at = _SPACE.match(text, end).end()  # type: ignore[union-attr]
            if text[at] == ",":
                at += 1
    except (ValueError, IndexError):
        return None


def _dedented(text: str, start: int, stop: int) -> str:
    """text[start:stop] as it reads on its own: its later lines lose the indentation its
    first line had in place."""
    body = text[start:stop]
    if "\n" not in body:
        return body
    column = start - (text.rfind("\n", 0, start) + 1)
    return textwrap.dedent(" " * column + body)


def _own_text(text: str, node: yaml.Node) -> str:
    """The text of one automation's node, dedented so that it reads on its own, with the
    comment lines just above it (a list item's `- ` becomes indentation). Linear in the
    node's own size, so that 10,000 items cut quickly, even from one long JSON line."""
    start, end = node.start_mark.index, _end_of(node)
    stop = end.index
    if end.column != 0:  # the rest of its last line, when that is only a comment
        line_end = _line_end(text, end.index)
        rest = text[end.index:line_end].strip()
        stop = line_end if not rest or rest.startswith("#") else end.index
    body = _dedented(text, start, stop)
    line_start = text.rfind("\n", 0, start) + 1
    alone = not text[line_start:start].strip(" -")  # nothing else before it on its line
    comments = _comments_above(text, line_start) if alone else []
    return "\n".join([*comments, body.rstrip()]) + "\n"


def _comments_above(text: str, line_start: int) -> list[str]:
    """The comment lines right above the line starting at `line_start`."""
    comments: list[str] = []
    while line_start > 0:
        previous = text.rfind("\n", 0, line_start - 1) + 1
        line = text[previous:line_start - 1].strip()
        if not line.startswith("#"):
            break
        comments.insert(0, line)
        line_start = previous
    return comments


def _end_of(node: yaml.Node) -> yaml.Mark:
    """Where a node's own text ends: a block collection's end mark is the next token, past
    any comments or blank lines that belong to what follows, so take its last value's."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style \
            and node.value:
        last = node.value[-1]
        return _end_of(last[1] if isinstance(last, tuple) else last)
    return node.end_mark


def _line_end(text: str, index: int) -> int:
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline


#: Deepest nesting of lists and mappings a file may have: far past any real automation, and
#: short of where the YAML reader (which recurses) would fail.
MAX_NESTING = 200


def _deeper_than(docs: list[Any], limit: int) -> bool:
    """Whether any document nests lists and mappings past `limit` (walked without recursion,
    so the common case costs no second parse of the text)."""
    stack: list[tuple[Any, int]] = [(doc, 1) for doc in docs]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > limit:
                return True
            stack.extend((item, depth + 1) for item in value if isinstance(item, (dict, list)))
    return False


def _nested_too_deep_at(text: str) -> int | None:
    """The line where the text nests past MAX_NESTING, found with YAML's event parser
    (which does not recurse), or None."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                return event.start_mark.line + 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return None


def _documents(text: str) -> tuple[list[Any], list[yaml.Node] | None]:
    """The documents of a text, and its node tree when it was built on the way: JSON (a YAML
    subset) through the json module, which is many times faster than a YAML parser; YAML by
    building the node tree once and the documents from it (the tree also places errors and
    cuts the text: loading and composing separately would parse it twice)."""
    try:
        return [json.loads(text)], None
    except ValueError:
        nodes = _nodes(text)
        loader = _LOADER("")
        return [loader.construct_document(node) for node in nodes], nodes


def _found(docs: list[Any], nodes: list[Any]) -> list[tuple[str, Any, yaml.Node | None]]:
    """(error prefix, data, node) for each automation in the documents."""
    found: list[tuple[str, Any, yaml.Node | None]] = []
    for index, (doc, node) in enumerate(zip(docs, nodes, strict=True)):
        if doc is None:
            continue
        prefix = f"document {index + 1}: " if len(docs) > 1 else ""
        found.extend(_entries(doc, node, prefix))
    return found


def parse_file(path: str | Path) -> list[Automation]:
    return parse_text(read_file(path), str(path))


def read_file(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InvalidInput([("", f"cannot read {path}: {exc.strerror}")]) from None


def _entries(doc: Any, node: yaml.Node | None, prefix: str) -> list[tuple[str, Any, Any]]:
    if isinstance(doc, dict) and "automations" in doc and "trigger" not in doc:
        items = doc["automations"]
        child = _child(node, "automations")
        if not isinstance(items, list):
            return [(prefix + "automations", items, child)]
        return [(f"{prefix}automations[{i}].", item, _child(child, i))
                for i, item in enumerate(items)]
    if isinstance(doc, list):
        return [(f"{prefix}[{i}].", item, _child(node, i)) for i, item in enumerate(doc)]
    return [(prefix, doc, node)]


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
        return node.value[key] if key < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _line_of(node: yaml.Node | None, loc: str) -> int | None:
    """The line of the deepest node along a path like `trigger.triggers[1].within`."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in _split(loc):
        key_line = _key_line(node, part)
        node = _child(node, part)
        if key_line is not None:
            line = key_line
        elif node is not None:
            line = node.start_mark.line + 1
        if node is None:
            break
    return line


def _key_line(node: yaml.Node, key: str | int) -> int | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return k.start_mark.line + 1
    return None


def _split(loc: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in loc.replace("[", ".[").split("."):
        if not piece:
            continue
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts
