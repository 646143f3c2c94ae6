"""Names cut in the middle (text_cut): pure, no app."""

from __future__ import annotations

from rich.cells import cell_len
from tocsin_tui.text_cut import cut_middle

ACTION_EVENTS = ["prefect.automation.action.triggered", "prefect.automation.action.failed",
                 "prefect.automation.action.executed"]


def test_action_event_names_cut_at_80_columns_stay_distinct_and_keep_their_ends():
    """At 80 columns the three action events were cut at the end and looked alike."""
    for width in (14, 20, 26, 30):
        cut = [cut_middle(name, width) for name in ACTION_EVENTS]
        assert len(set(cut)) == 3, cut
        for name, short in zip(ACTION_EVENTS, cut):
            assert cell_len(short) <= width and "…" in short
            head, tail = short.split("…")
            assert name.startswith(head) and name.endswith(tail) and len(tail) >= 6, short
    assert cut_middle("prefect.automation.action.failed", 26) == "prefect.…action.failed"


def test_what_fits_is_untouched_and_tiny_widths_do_not_break():
    assert cut_middle("order.created", 13) == "order.created"
    assert cut_middle("order.created", 12) == "orde…created"
    assert cut_middle("abc", 1) == "…" and cut_middle("abc", 0) == ""
    wide = "注文.作成.された"  # two cells a character
    assert cell_len(cut_middle(wide, 9)) <= 9


def test_paths_keep_their_file_name():
    path = "/tmp/pytest-of-root/pytest-12/test_sources_show_a_watched0/app.jsonl"
    assert cut_middle(path, 28) == "/tmp/…app.jsonl"
