"""Actions: what an automation does when it fires — their model, targets, rendering, the
durable outbox that runs them, and the blocks (notification and webhook targets) they name."""
