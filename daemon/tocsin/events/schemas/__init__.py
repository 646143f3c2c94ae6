"""Prefect's `prefect.events.schemas` module paths, so its examples import unchanged:
`automations` (triggers, Posture, ResourceSpecification), `deployment_triggers`
(Deployment*Trigger) and `events` (Event, ResourceSpecification)."""
