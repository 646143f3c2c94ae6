"""Prefect's order example with `tocsin` for `prefect` in the imports (tests/test_deploy_triggers.py).

Run it, then emit `order.created` for users 123 and 456 and `order.complete` for 123: the flow
runs once, with user_id 123.
"""

from tocsin import flow
from tocsin.events import DeploymentEventTrigger


@flow(log_prints=True)
def post_order_complete(user_id: str):
    print(f"User {user_id} has completed an order -- doing stuff now")


order_complete = DeploymentEventTrigger(
    expect={"order.complete"},
    after={"order.created"},
    for_each={"prefect.resource.id"},
    parameters={"user_id": "{{ event.resource.id }}"},
)


if __name__ == "__main__":
    post_order_complete.serve(triggers=[order_complete])
