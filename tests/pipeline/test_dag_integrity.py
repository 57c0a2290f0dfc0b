"""DAG integrity tests of the bundled pipeline and of the broken fixture.

Airflow's best-practices advice: the DAG file imports without errors, and the
tasks, their order and their settings are what the design says. Parsing needs
no database or running Airflow.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "pipeline" / "example"
R_TASKS = ["extract", "analyse", "load"]


@pytest.fixture(scope="module", params=["example", "broken-fixture"])
def dagbag(request, broken_pipeline):
    folder = EXAMPLE if request.param == "example" else broken_pipeline
    return DagBag(dag_folder=folder / "dags")


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["shadow_pipeline"]


def test_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["shadow_pipeline"]


def test_tasks_run_in_order(dag):
    assert [t.task_id for t in dag.topological_sort()] == [*R_TASKS, "notify"]
    chain = [*R_TASKS, "notify"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("notify").downstream_task_ids == set()


def test_triggered_only_by_shadowops(dag):
    assert dag.schedule is None
    assert dag.max_active_runs == 1


@pytest.mark.parametrize("task_id", R_TASKS)
def test_r_tasks_fail_fast_with_run_identity(dag, task_id):
    task = dag.get_task(task_id)
    assert task.task_type == "BashOperator"
    assert task.retries == 0
    assert task.bash_command.startswith("Rscript ")
    assert task.bash_command.endswith(f"/R/run.R {task_id}")
    # Without append_env the R process would lose PATH and JAVA_HOME.
    assert task.append_env is True
    assert task.env["SHADOW_RUN_ID"] == "{{ run_id }}"
    assert task.env["SHADOW_WAREHOUSE_SETTINGS"]
    # load's last stdout line is the summary the e-mail pulls from XCom.
    assert task.do_xcom_push is True


def test_notify_mails_only_after_success(dag):
    notify = dag.get_task("notify")
    assert notify.task_type == "EmailOperator"
    assert notify.trigger_rule == "all_success"
    assert notify.conn_id == "shadow_smtp"
    assert notify.to == "{{ var.value.shadow_mail_to }}"
    assert "run_id" in notify.subject and "shadow_env" in notify.subject
    assert "xcom_pull(task_ids='load')" in notify.html_content


def test_templates_are_valid_jinja(dag):
    env = jinja2.Environment()
    for task in dag.tasks:
        for field in task.template_fields:
            value = getattr(task, field, None)
            for text in value.values() if isinstance(value, dict) else [value]:
                if isinstance(text, str):
                    env.parse(text)


def test_broken_fixture_differs_from_example_only_in_the_broken_task(broken_pipeline):
    """The generated fixture is the example with one deliberate fault in
    R/tasks.R: analyse reads a table nobody writes."""
    example = (EXAMPLE / "R/tasks.R").read_text().splitlines()
    broken = (broken_pipeline / "R/tasks.R").read_text().splitlines()
    changed = [(a, b) for a, b in zip(example, broken) if a != b]
    assert len(example) == len(broken)
    assert len(changed) == 1
    assert "FROM stg_orders WHERE" in changed[0][0]
    assert "FROM stg_orders_deliberately_missing WHERE" in changed[0][1]
