# Prefect's Automations guide, "Event-based deployment automation": create an automation with
# a POST to the automations API, as the guide does (requests, Prefect Cloud's URL, a bearer
# key) with the URL's host changed to tocsin's [prefect_api] listener. Other changes: the
# guide's account_id, workspace_id and PREFECT_API_KEY come from myproject.utils (the
# environment); YOUR-DEPLOYMENT-ID comes from the command line (`tocsin deployment ls`); and
# "parameters" is {"num": 10}, because Prefect's schema, like tocsin's, refuses the guide's
# "10" (parameters must be an object). "enabled": "true" is as the guide has it: Prefect's
# schema coerces it, and so does tocsin's.
import sys

import requests

from myproject.utils import PREFECT_API_KEY, account_id, port, workspace_id

def create_event_driven_automation():
    api_url = f"http://127.0.0.1:{port}/api/accounts/{account_id}/workspaces/{workspace_id}/automations/"
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

    headers = {"Authorization": f"Bearer {PREFECT_API_KEY}"}
    response = requests.post(api_url, headers=headers, json=data)

    print(response.json())
    return response.json()

if __name__ == "__main__":
    deployment_id = sys.argv[1]  # YOUR-DEPLOYMENT-ID
    create_event_driven_automation()
