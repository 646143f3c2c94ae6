"""Example flows for samples/project/tocsin.yaml (used by tests/test_jobs.py and
tests/test_deploy_triggers.py)."""

from tocsin import flow


@flow(log_prints=True)
def upstream(batch: int = 1) -> dict:
    print(f"extracted batch {batch}")
    return {"batch": batch, "rows": 10 * batch}


@flow(name="downstream-load", log_prints=True)
def downstream(source: str = "none", rows: int = 0) -> str:
    print(f"loading {rows} rows from {source}")
    return f"loaded {rows} from {source}"


@flow
def fails(reason: str = "boom") -> None:
    raise ValueError(reason)


@flow
def sleepy(seconds: float = 60.0) -> float:
    import time

    time.sleep(seconds)
    return seconds
