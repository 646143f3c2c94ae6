# The flow the guide's deployment-trigger examples name: path/to/flow.py:decorated_fn.
from tocsin import flow


@flow(log_prints=True)
def decorated_fn(param_1: str):
    print(param_1)
