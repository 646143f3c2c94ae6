"""Prefect's wire: the `/api` listener for Prefect clients, `[[forward]]` and `[[subscribe]]`
links to a Prefect server, and moving automations between the two (`automation push/pull`).

tocsin already stores Prefect's JSON shapes unchanged; this package speaks Prefect's network
protocols (REST under `/api`, the `events/in` and `events/out` websockets with their auth
handshake, and `events/filter` paging) in both directions.
"""
