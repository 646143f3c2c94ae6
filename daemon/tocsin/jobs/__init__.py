"""Local jobs: deployments, flow runs (subprocesses), work pools and queues, cron schedules.

The daemon part is `component.JobsComponent`; `launch` and `runner` are standard-library only
so that `serve` processes and run processes start fast.
"""
