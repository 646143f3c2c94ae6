# Prefect's Automations guide, the ".deploy" tab. The guide's snippet does not parse (its body
# is not indented and a comma is missing after work_pool_name); this is it made valid Python.
import importlib.util
from pathlib import Path

# The guide runs this in test-automations.py itself; its name has a dash, so load it by path.
_spec = importlib.util.spec_from_file_location("test_automations",
                                               Path(__file__).with_name("test-automations.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
build_names = _module.build_names

# .deploy only needs a name, valid work pool
# and a reference to where the flow code exists

if __name__ == "__main__":
    build_names.deploy(
        name="deploy-build-names",
        work_pool_name="tutorial-process-pool",
        image="my_registry/my_image:my_image_tag",
    )
