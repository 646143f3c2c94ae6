"""The `post` and `put` helpers Prefect's guide imports from `myproject.utils`. The guide
leaves them to you; these send the requests its REST example sends — `requests` to Prefect
Cloud's workspace URL with a bearer key — with only the host changed to tocsin's
`[prefect_api]` listener (which takes any account and workspace ids, and checks the key
where `api_key_env` is set)."""

import os

import requests

# What the guide asks you to have: your api_key, account_id and workspace_id; and the port
# of tocsin's [prefect_api] listener.
account_id = os.environ.get("PREFECT_ACCOUNT_ID", "my-account")
workspace_id = os.environ.get("PREFECT_WORKSPACE_ID", "my-workspace")
PREFECT_API_KEY = os.environ.get("PREFECT_API_KEY", "")
port = os.environ.get("TOCSIN_PREFECT_API_PORT", "4200")

api_url = f"http://127.0.0.1:{port}/api/accounts/{account_id}/workspaces/{workspace_id}"
headers = {"Authorization": f"Bearer {PREFECT_API_KEY}"}


def post(route, payload=None):
    """POST any route; the response's JSON."""
    response = requests.post(api_url + route, headers=headers, json=payload)
    response.raise_for_status()
    return response.json()


def put(route, payload=None):
    """PUT any route; the response."""
    response = requests.put(api_url + route, headers=headers, json=payload)
    response.raise_for_status()
    return response
