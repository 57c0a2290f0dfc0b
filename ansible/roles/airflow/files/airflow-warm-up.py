"""ExecStartPost of airflow-api-server: ask the task execution API for its
health once, as soon as the API server answers, in the background.

The API server builds that sub-application's routes on the first request
to it, which costs ~2 s of CPU (4 s on a loaded host) and holds the request
up meanwhile. Without this, the first task of the first DAG run after every
start of the API server pays it: its task runner waits for the API server
before the task's command starts. Best effort: nothing depends on it
succeeding; it gives up after five minutes.

systemd waits for ExecStartPost to exit before the unit counts as started,
so the work happens in a forked child (which stays in the unit's cgroup and
ends with it).
"""

import configparser
import os
import sys
import time
import urllib.request


def port() -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(os.environ.get("AIRFLOW_CONFIG", "/etc/airflow/airflow.cfg"))
    return cfg.get("api", "port", fallback="8080")


def main() -> None:
    if os.fork():
        sys.exit(0)
    os.setsid()
    url = f"http://127.0.0.1:{port()}/execution/health"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=120) as answer:
                answer.read()
            return
        except OSError:
            time.sleep(0.5)


if __name__ == "__main__":
    main()
