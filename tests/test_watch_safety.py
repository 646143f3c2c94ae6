"""Watched files read only when it is safe: symlinks out of the tree or owned by others, and
others' files in world-writable folders, are refused once, reported without excerpts.
The parts that need a file owned by another uid run only as root (chown)."""

from __future__ import annotations

import json
import os
import time

import pytest
from tocsin.sources.filesafety import refusal

OTHER_UID = 54321
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
SECRET = "root:$6$s3cr3t-hash-never-stored:19000:0:99999:7:::\n"


def _event(name: str) -> str:
    return json.dumps({"event": name, "resource": {"prefect.resource.id": "x"}}) + "\n"


def test_symlink_inside_the_tree_is_followed_outside_is_refused(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "real.jsonl").write_text("")
    (tmp_path / "secret").write_text(SECRET)
    os.symlink(tree / "sub" / "real.jsonl", tree / "in.jsonl")
    os.symlink(tmp_path / "secret", tree / "out.jsonl")
    root = str(tree)
    assert refusal(str(tree / "in.jsonl"), root) is None
    reason = refusal(str(tree / "out.jsonl"), root)
    assert reason is not None and "outside the watched tree" in reason
    assert refusal(str(tree / "out.jsonl"), root, follow_symlinks=True) is None
    assert refusal(str(tree / "sub" / "real.jsonl"), root) is None


@as_root
def test_others_files_in_world_writable_folders_and_others_symlinks_are_refused(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    os.chmod(drop, 0o1777)
    theirs, mine = drop / "theirs.jsonl", drop / "mine.jsonl"
    theirs.write_text("")
    mine.write_text("")
    os.chown(theirs, OTHER_UID, OTHER_UID)
    assert "owned by uid 54321 in the world-writable folder" in refusal(str(theirs), str(drop))
    assert refusal(str(theirs), str(drop), follow_symlinks=True) is not None  # always
    assert refusal(str(mine), str(drop)) is None
    tree = tmp_path / "tree"  # not world-writable: a link inside it, owned by another uid
    tree.mkdir()
    (tree / "real.jsonl").write_text("")
    os.symlink(tree / "real.jsonl", tree / "link.jsonl")
    os.lchown(tree / "link.jsonl", OTHER_UID, OTHER_UID)
    assert "symlink owned by uid 54321" in refusal(str(tree / "link.jsonl"), str(tree))
    assert refusal(str(tree / "link.jsonl"), str(tree), follow_symlinks=True) is None


def test_daemon_refuses_once_reports_in_status_and_stores_no_excerpt(make_daemon, tmp_path):
    drop, opened = tmp_path / "drop", tmp_path / "opened"
    drop.mkdir()
    opened.mkdir()
    os.chmod(drop, 0o1777)
    secret = tmp_path / "shadow"
    secret.write_text(SECRET * 26)
    os.symlink(secret, drop / "evil.jsonl")  # `ln -s /etc/shadow /srv/drop/evil.jsonl`
    os.symlink(secret, opened / "evil.jsonl")
    (drop / "mine.jsonl").write_text(_event("mine.ok"))
    if os.geteuid() == 0:
        os.lchown(drop / "evil.jsonl", OTHER_UID, OTHER_UID)
        (drop / "theirs.jsonl").write_text(_event("theirs.read"))
        os.chown(drop / "theirs.jsonl", OTHER_UID, OTHER_UID)
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[[watch]]\npath = "{drop}/*.jsonl"\nstart = "beginning"\n'
                      f'[[watch]]\npath = "{opened}/*.jsonl"\nstart = "beginning"\n'
                      'follow_symlinks = true\n')
    d = make_daemon(config=config).start()

    def names() -> list[str]:
        with d.client() as c:
            return [e["event"] for e in c.filter_events(limit=500)["events"]]

    deadline = time.monotonic() + 15
    while "mine.ok" not in names() or names().count("tocsin.source.line-rejected") < 26:
        assert time.monotonic() < deadline, names()
        time.sleep(0.1)
    time.sleep(2.5)  # a few more polls: each refusal is still reported only once
    with d.client() as c:
        events = c.filter_events(limit=500)["events"]
        status = c.health()["components"]["watch"][f"{drop}/*.jsonl"]
    refused = [e for e in events if e["event"] == "tocsin.source.file-refused"]
    refused_paths = sorted(e["payload"]["path"] for e in refused)
    expected = [str(drop / "evil.jsonl")]
    if os.geteuid() == 0:
        expected.append(str(drop / "theirs.jsonl"))
    assert refused_paths == sorted(expected)
    assert all(set(e["payload"]) == {"path", "reason"} for e in refused)
    assert "refused" in status["last_error"] and status["files"] == 1
    assert "theirs.read" not in [e["event"] for e in events]
    # the opted-out source did read the link (its lines are not events: rejected, with
    # excerpts, as any bad line); the default source stored nothing of the file
    from_drop = [e for e in events if e["resource"]["prefect.resource.id"]
                 == f"tocsin.source.{drop}/*.jsonl"]
    assert "s3cr3t" not in json.dumps(from_drop)
    assert d.log().count(f"refused {drop}/evil.jsonl") == 1
