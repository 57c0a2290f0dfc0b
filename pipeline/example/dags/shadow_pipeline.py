"""shadow_pipeline: the example pipeline a shadow env runs to prove itself.

extract >> analyse >> load run the team's R code (R/run.R) against the
warehouse; notify mails the success note with load's one-line summary. A
failing R task fails the run at once (no retries in a shadow), and notify's
all_success trigger rule means no e-mail unless every R task succeeded.

Kept light on purpose: the DAG processor re-parses this file often, so the
module does no I/O, imports nothing heavy and reads no Airflow Variables at
parse time (they are Jinja templates, rendered when a task runs).
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta

from airflow.providers.smtp.operators.smtp import EmailOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

# Where configure deploys the pipeline folder and the warehouse settings.
# Overridable through the environment for runs outside a shadow host
# (`airflow dags test` on a workstation).
PIPELINE_DIR = os.environ.get("SHADOW_PIPELINE_DIR", "/opt/shadowops/pipeline")
WAREHOUSE_SETTINGS = os.environ.get("SHADOW_WAREHOUSE_SETTINGS", "/etc/shadowops/warehouse.dcf")

R_TASKS = ("extract", "analyse", "load")

SUBJECT = "[shadowops {{ var.value.shadow_env }}] shadow_pipeline succeeded: {{ run_id }}"

HTML = """\
<h3>Shadow env {{ var.value.shadow_env | e }}: pipeline succeeded</h3>
<p>DAG <code>{{ dag.dag_id }}</code>, run <code>{{ run_id | e }}</code>:
extract, analyse and load all succeeded.</p>
<p>Summary:</p>
<pre>{{ ti.xcom_pull(task_ids='load') | e }}</pre>
"""

with DAG(
    dag_id="shadow_pipeline",
    description="R tasks against the warehouse, then a success e-mail",
    schedule=None,  # triggered by shadowops over the REST API
    catchup=False,
    max_active_runs=1,
    tags=["shadowops"],
    doc_md=__doc__,
    default_args={
        "owner": "shadowops",
        # A shadow run must fail fast and visibly; retries would hide a broken task.
        "retries": 0,
    },
) as dag:
    r_tasks = [
        BashOperator(
            task_id=name,
            bash_command=f"Rscript {shlex.quote(PIPELINE_DIR)}/R/run.R {name}",
            # append_env keeps PATH, JAVA_HOME etc. of the worker; without it
            # BashOperator replaces the whole environment.
            append_env=True,
            env={
                "SHADOW_RUN_ID": "{{ run_id }}",
                "SHADOW_WAREHOUSE_SETTINGS": WAREHOUSE_SETTINGS,
            },
            retries=0,
            # A hung JDBC call must not hold the shadow until its lease ends.
            execution_timeout=timedelta(minutes=30),
        )
        for name in R_TASKS
    ]

    notify = EmailOperator(
        task_id="notify",
        conn_id="shadow_smtp",  # from_email and TLS settings live in the connection
        to="{{ var.value.shadow_mail_to }}",
        subject=SUBJECT,
        html_content=HTML,
        trigger_rule="all_success",
    )

    extract, analyse, load = r_tasks
    extract >> analyse >> load >> notify
