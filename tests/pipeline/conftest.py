"""Keep Airflow away from ~/airflow: point AIRFLOW_HOME at a throwaway folder
before any test module imports airflow (importing it creates airflow.cfg and
a logs folder there)."""

import os
import tempfile

if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="shadowops-airflow-test-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
