# shadowops stdout callback: one JSON object per line, flushed per line, so the
# driver can stream, store (runs/<run-id>/ansible-*.jsonl) and summarise a play.
# The event shapes are pinned in docs/interfaces.md.
#
# Rules this plugin keeps:
# - it never raises into Ansible: a bug here must not fail a configure run,
#   so every hook is wrapped and problems go to stderr as warnings;
# - it prints only what Ansible hands callbacks (results of no_log tasks arrive
#   censored) and never task args or variables: a no_log result additionally
#   loses msg/stdout/stderr here, whatever it contains;
# - stdout carries nothing but these JSON lines (warnings go to stderr).

from __future__ import annotations

DOCUMENTATION = """
    name: shadowops_jsonl
    type: stdout
    short_description: one JSON event per line for the shadowops driver
    description:
      - Emits playbook_start, play_start, task_start, task_result and stats
        events as single-line JSON objects on stdout, flushing after each line.
      - Never prints task arguments or variables; results of no_log tasks are
        reduced to their status.
"""

import functools
import json
import os
import sys
import time

from ansible.plugins.callback import CallbackBase

# How much of a command's output a task_result carries: enough to explain a
# failure in a report, small enough to keep event lines short.
TAIL_LINES = 20
TAIL_CHARS = 2000

CENSORED_MSG = "output hidden (no_log)"


def _safe(hook):
    """Run a callback hook, turning any exception into a stderr warning."""

    @functools.wraps(hook)
    def wrapper(self, *args, **kwargs):
        try:
            hook(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a callback must never break the play
            try:
                self._display.warning("shadowops_jsonl: %s failed: %r" % (hook.__name__, exc))
            except Exception:  # noqa: BLE001
                pass

    return wrapper


def _tail(value):
    """Last TAIL_LINES lines / TAIL_CHARS characters of a string or list of lines."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    text = str(value).rstrip("\n")
    lines = text.splitlines()[-TAIL_LINES:]
    text = "\n".join(lines)
    return text[-TAIL_CHARS:]


def _first_failed_item(result):
    """For a loop, the first failed item's result (it holds the useful msg)."""
    for item in result.get("results") or []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            return item
    return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "shadowops_jsonl"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._basedir = None
        self._started = {}  # (host, task uuid) -> monotonic start time

    # ---- output -------------------------------------------------------------

    def _emit(self, event):
        line = json.dumps(event, default=str, ensure_ascii=False, sort_keys=False)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # ---- helpers --------------------------------------------------------------

    @staticmethod
    def _role_name(task):
        role = getattr(task, "_role", None)
        if role is None:
            return None
        try:
            return role.get_name(include_role_fqcn=False)
        except TypeError:
            return role.get_name()

    def _path(self, task):
        """Task file and line, relative to the playbook directory when inside it."""
        path = task.get_path() or ""
        if self._basedir and path.startswith(self._basedir + os.sep):
            path = path[len(self._basedir) + 1:]
        return path

    def _task_start(self, task, handler):
        self._emit({
            "event": "task_start",
            "task": task.get_name(),
            "role": self._role_name(task),
            "path": self._path(task),
            "handler": handler,
        })

    def _task_result(self, result, status, ignore_errors=False):
        task = result._task
        host = result._host.get_name()
        res = result._result if isinstance(result._result, dict) else {}
        started = self._started.pop((host, task._uuid), None)
        duration = round(time.monotonic() - started, 3) if started is not None else None

        if status == "ok" and res.get("changed"):
            status = "changed"

        censored = bool(task.no_log) or "censored" in res or res.get("_ansible_no_log")
        if censored:
            msg, stdout_tail, stderr_tail = (CENSORED_MSG if status in ("failed", "unreachable") else ""), "", ""
        else:
            source = res
            if status == "failed" and ("msg" not in res or res.get("msg") == "One or more items failed"):
                source = _first_failed_item(res) or res
            msg = source.get("msg") or ""
            if not isinstance(msg, str):
                msg = json.dumps(msg, default=str)
            stdout_tail = _tail(source.get("stdout_lines") or source.get("stdout"))
            stderr_tail = _tail(source.get("stderr_lines") or source.get("stderr"))
            if status == "skipped" and not msg:
                msg = res.get("skip_reason") or ""

        self._emit({
            "event": "task_result",
            "status": status,
            "host": host,
            "task": task.get_name(),
            "role": self._role_name(task),
            "msg": msg[-TAIL_CHARS:],
            "stdout_tail": stdout_tail,
            "stderr_tail": stderr_tail,
            "duration_s": duration,
            "ignore_errors": bool(ignore_errors),
        })

    # ---- playbook / play / task ---------------------------------------------

    @_safe
    def v2_playbook_on_start(self, playbook):
        self._basedir = os.path.abspath(playbook._basedir) if getattr(playbook, "_basedir", None) else None
        self._emit({"event": "playbook_start", "playbook": os.path.basename(playbook._file_name)})

    @_safe
    def v2_playbook_on_play_start(self, play):
        self._emit({"event": "play_start", "play": play.get_name().strip()})

    @_safe
    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task, handler=False)

    @_safe
    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, handler=True)

    @_safe
    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    # ---- results --------------------------------------------------------------

    @_safe
    def v2_runner_on_ok(self, result):
        self._task_result(result, "ok")

    @_safe
    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._task_result(result, "failed", ignore_errors=ignore_errors)

    @_safe
    def v2_runner_on_unreachable(self, result):
        self._task_result(result, "unreachable")

    @_safe
    def v2_runner_on_skipped(self, result):
        self._task_result(result, "skipped")

    # Per-item results are summarised by the final loop result above; the
    # default implementations would print human text to stdout, so silence them.
    def v2_runner_item_on_ok(self, result):
        pass

    def v2_runner_item_on_failed(self, result):
        pass

    def v2_runner_item_on_skipped(self, result):
        pass

    def v2_runner_retry(self, result):
        pass

    def v2_on_file_diff(self, result):
        pass

    # ---- end ------------------------------------------------------------------

    @_safe
    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            hosts[host] = {
                "ok": s.get("ok", 0),
                "changed": s.get("changed", 0),
                "failures": s.get("failures", 0),
                "unreachable": s.get("unreachable", 0),
                "skipped": s.get("skipped", 0),
                "rescued": s.get("rescued", 0),
                "ignored": s.get("ignored", 0),
            }
        self._emit({"event": "stats", "hosts": hosts})
