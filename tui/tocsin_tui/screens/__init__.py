"""The dashboard's screens: feed, automations, editor, inspect, templates, help, forms."""
