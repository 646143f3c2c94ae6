"""Widgets of the dashboard that Textual does not have as such."""
