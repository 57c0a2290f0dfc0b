"""my_pipeline: daily totals of the events table, then a success e-mail.

shadowops triggers it (schedule=None) and follows every task. Keep the
module light: the DAG processor parses it often.
"""

from __future__ import annotations

import os

from airflow.providers.smtp.operators.smtp import EmailOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

# Where shadowops deploys this folder on the host.
PIPELINE_DIR = os.environ.get("SHADOW_PIPELINE_DIR", "/opt/shadowops/pipeline")

with DAG(
    dag_id="my_pipeline",
    schedule=None,
    catchup=False,
    # A shadow run must fail fast and visibly: no retries.
    default_args={"retries": 0},
) as dag:
    totals = BashOperator(
        task_id="totals",
        bash_command=f"Rscript {PIPELINE_DIR}/R/run.R totals",
        # Keep the worker's environment (JAVA_HOME, the warehouse settings).
        append_env=True,
        env={"SHADOW_RUN_ID": "{{ run_id }}"},
    )
    # The e-mail is the verdict: sent only when every task succeeded, and it
    # must name the run (shadowops.toml [mail] must_contain).
    notify = EmailOperator(
        task_id="notify",
        conn_id="shadow_smtp",
        to="{{ var.value.shadow_mail_to }}",
        subject="[shadowops {{ var.value.shadow_env }}] my_pipeline succeeded: {{ run_id }}",
        html_content="<pre>{{ ti.xcom_pull(task_ids='totals') }}</pre>",
        trigger_rule="all_success",
    )
    totals >> notify
