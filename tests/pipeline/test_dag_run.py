"""Run the whole DAG with `airflow dags test` against the test warehouse and a
local SMTP sink: the example must end in one success e-mail whose summary is
what the warehouse holds; the broken fixture must fail at analyse and send
nothing. No shadow env needed: this is the DAG + R + e-mail part of the
end-to-end test, runnable on any machine with R, PostgreSQL and Airflow.

Skipped unless SHADOW_TEST_WAREHOUSE_SETTINGS names the DCF settings of a
throwaway PostgreSQL database (scripts/test-pipeline.sh starts one).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "pipeline" / "example"
AIRFLOW = Path(sys.executable).with_name("airflow")
SETTINGS = os.environ.get("SHADOW_TEST_WAREHOUSE_SETTINGS", "")

pytestmark = pytest.mark.skipif(
    not SETTINGS, reason="no test warehouse: set SHADOW_TEST_WAREHOUSE_SETTINGS"
)


def read_dcf(path: str) -> dict[str, str]:
    fields = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture()
def inbox():
    from aiosmtpd.controller import Controller

    # aiosmtpd's readiness check connects to the configured port, so port 0
    # cannot be used: take a free one from the kernel first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Inbox()
    handler.port = port
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    """One migrated metadata DB (SQLite), copied for each run: migrating
    takes several seconds."""
    home = tmp_path_factory.mktemp("airflow-template")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    return home / "airflow.db"


def dags_test(pipeline: Path, inbox: Inbox, migrated_db: Path, tmp_path: Path):
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copy(migrated_db, home / "airflow.db")
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": inbox.port,
        "extra": {"from_email": "shadowops@localhost", "disable_ssl": True, "disable_tls": True},
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(pipeline / "dags"),
        "AIRFLOW_VAR_SHADOW_ENV": "pytest",
        "AIRFLOW_VAR_SHADOW_MAIL_TO": "team@localhost",
        "AIRFLOW_CONN_SHADOW_SMTP": json.dumps(smtp),
        "SHADOW_PIPELINE_DIR": str(pipeline),
        "SHADOW_WAREHOUSE_SETTINGS": SETTINGS,
    }
    seed = subprocess.run(["Rscript", str(pipeline / "R" / "run.R"), "seed"], env=env,
                          capture_output=True, text=True)
    assert seed.returncode == 0, seed.stderr
    proc = subprocess.run([str(AIRFLOW), "dags", "test", "shadow_pipeline"], env=env,
                          capture_output=True, text=True, timeout=600)
    with sqlite3.connect(home / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'shadow_pipeline' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        states = dict(db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'shadow_pipeline' AND run_id = ?",
            (run_id,),
        ).fetchall())
    return proc, run_id, states


def html_body(msg) -> str:
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part else ""


def warehouse_summary(run_id: str) -> str:
    import psycopg2

    s = read_dcf(SETTINGS)
    m = re.match(r"jdbc:postgresql://([^:/]+):(\d+)/(\w+)", s["jdbc_url"])
    assert m, s["jdbc_url"]
    with psycopg2.connect(host=m[1], port=int(m[2]), dbname=m[3], user=s["user"],
                          password=s["password"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT summary FROM rpt_run_summary WHERE run_id = %s", (run_id,))
        rows = cur.fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def test_example_run_ends_in_a_summary_mail(inbox, migrated_db, tmp_path):
    proc, run_id, states = dags_test(EXAMPLE, inbox, migrated_db, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert states == {t: "success" for t in ("extract", "analyse", "load", "notify")}

    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == f"[shadowops pytest] shadow_pipeline succeeded: {run_id}"
    assert msg["To"] == "team@localhost"
    summary = warehouse_summary(run_id)
    assert summary.startswith(f"run_id={run_id} orders=")
    assert summary in html_body(msg)


def test_broken_fixture_fails_at_analyse_without_mail(inbox, migrated_db, tmp_path, broken_pipeline):
    proc, run_id, states = dags_test(broken_pipeline, inbox, migrated_db, tmp_path)
    assert proc.returncode != 0
    assert states == {
        "extract": "success",
        "analyse": "failed",
        "load": "upstream_failed",
        "notify": "upstream_failed",
    }
    output = proc.stdout + proc.stderr
    assert 'task analyse failed: ERROR: relation "stg_orders_deliberately_missing" does not exist' in output
    assert inbox.messages == []
