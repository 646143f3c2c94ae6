# Prefect's Automations guide, "Event-based deployment automation": create an automation with
# a POST to the automations API. Changes: the POST goes to the daemon's socket API through
# myproject.utils (no account, workspace or API key); YOUR-DEPLOYMENT-ID comes from the
# command line (`tocsin deployment ls`); and "parameters" is {"num": 10}, because Prefect's
# schema, like tocsin's, refuses the guide's "10" (parameters must be an object).
# "enabled": "true" is as the guide has it: Prefect's schema coerces it, and so does tocsin's.
import sys

from myproject.utils import post

def create_event_driven_automation(deployment_id: str):
    data = {
        "name": "Event Driven Redeploy",
        "description": "Programmatically created an automation to redeploy a flow based on an event",
        "enabled": "true",
        "trigger": {
            "after": [
                "string"
            ],
            "expect": [
                "prefect.flow-run.Running"
            ],
            "for_each": [
                "prefect.resource.id"
            ],
            "posture": "Proactive",
            "threshold": 30,
            "within": 0
        },
        "actions": [
            {
                "type": "run-deployment",
                "source": "selected",
                "deployment_id": deployment_id,
                "parameters": {"num": 10}
            }
        ],
        "owner_resource": "string"
    }

    response = post("/automations/", payload=data)

    print(response)
    return response

if __name__ == "__main__":
    create_event_driven_automation(sys.argv[1])
