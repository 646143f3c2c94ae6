# Prefect's Automations guide, "API example", with `prefect` -> `tocsin`. Run it directly (no
# deployment needed): the flow run's Completed event fires notify-on-completion.yaml.
# One change: the URL can be pointed elsewhere with RANDOMUSER_URL (the tests serve it on
# 127.0.0.1 rather than calling randomuser.me).
import os

from tocsin import flow, task, get_run_logger
import requests
import json

@task
def fetch(url: str):
    logger = get_run_logger()
    response = requests.get(url)
    raw_data = response.json()
    logger.info(f"Raw response: {raw_data}")
    return raw_data

@task
def clean(raw_data: dict):
    print(raw_data.get('results')[0])
    results = raw_data.get('results')[0]
    logger = get_run_logger()
    logger.info(f"Cleaned results: {results}")
    return results['name']

@flow
def build_names(num: int = 10):
    df = []
    url = os.environ.get("RANDOMUSER_URL", "https://randomuser.me/api/")
    logger = get_run_logger()
    copy = num
    while num != 0:
        raw_data = fetch(url)
        df.append(clean(raw_data))
        num -= 1
    logger.info(f"Built {copy} names: {df}")
    return df

if __name__ == "__main__":
    list_of_names = build_names()
