"""Where events come from besides the socket API: watched event-log files (and the spool that
emitters fall back to), and incoming HTTP webhooks."""
