"""Read a taskfleet task's context and write its result (standard library only).

A program registered on a taskfleet worker (``worker --program train=...``)
runs one attempt of a task. The worker gives it the task document in the file
named by ``TASKFLEET_TASK_FILE`` (and on stdin) and reads its result from the
file named by ``TASKFLEET_RESULT_FILE``::

    import taskfleet_task

    task = taskfleet_task.load()
    if task.phase == "waiting":          # phase one (or a one-phase run)
        model = fit(task.def_)
        taskfleet_task.done({"ic": 0.05, "model": "model.pkl"})
    else:                                # "part_done": phase two
        taskfleet_task.done(finish(task.def_, task.res))

Run outside a worker (no ``TASKFLEET_TASK_FILE``), ``load()`` reads the task
document from stdin, and ``done()`` prints the result as one JSON line on
stdout, which the worker would take as the result too.
"""

import datetime
import json
import os
import sys
import tempfile

__all__ = ["Task", "load", "done"]

TASK_FILE_ENV = "TASKFLEET_TASK_FILE"
RESULT_FILE_ENV = "TASKFLEET_RESULT_FILE"


class Task:
    """One attempt of a task, as the worker describes it.

    id, pool, kind    the task's id, its pool and its kind (the program's name)
    attempt           this attempt's number, from 1
    max_attempts      the task's attempt budget; 0 means unlimited
    phase             "waiting" (phase one, or a one-phase run) or "part_done" (phase two)
    def_              the task's def: data only (``def`` is a Python keyword)
    res               phase one's result in phase two, else None
    work_dir          a fresh directory for this attempt, removed after it
    artifact_dir      a directory inside work_dir for the attempt's artifacts
    deadline          when the worker stops the attempt (an aware datetime), or None
    """

    __slots__ = ("id", "pool", "kind", "attempt", "max_attempts", "phase", "def_", "res",
                 "work_dir", "artifact_dir", "deadline")

    def __init__(self, doc, environ=None):
        env = os.environ if environ is None else environ
        if not isinstance(doc, dict):
            raise ValueError("taskfleet_task: the task document is not a JSON object")
        self.id = doc.get("id")
        self.pool = doc.get("pool")
        self.kind = doc.get("kind")
        self.attempt = int(doc.get("attempt") or 0)
        self.max_attempts = int(doc.get("max_attempts") or 0)
        self.phase = doc.get("phase") or "waiting"
        self.def_ = doc.get("def")
        self.res = doc.get("res")
        self.work_dir = env.get("TASKFLEET_WORK_DIR")
        self.artifact_dir = env.get("TASKFLEET_ARTIFACT_DIR")
        self.deadline = _parse_time(env.get("TASKFLEET_DEADLINE"))

    def __repr__(self):
        return "Task(id=%r, kind=%r, attempt=%r, phase=%r)" % (self.id, self.kind, self.attempt, self.phase)


def _parse_time(s):
    if not s:
        return None
    if s.endswith("Z"):  # fromisoformat before Python 3.11 wants an offset
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s)


def load(path=None, environ=None):
    """Return the running Task: from ``path``, else the file named by
    TASKFLEET_TASK_FILE, else stdin."""
    env = os.environ if environ is None else environ
    path = path or env.get(TASK_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    else:
        doc = json.load(sys.stdin)
    return Task(doc, env)


def done(result, path=None, environ=None):
    """Write ``result`` (a JSON-serialisable dict) as the task's result: to
    ``path``, else the file named by TASKFLEET_RESULT_FILE (written to a
    temporary file then renamed, so the worker never reads half of it), else
    as one JSON line on stdout."""
    if not isinstance(result, dict):
        raise TypeError("taskfleet_task.done: the result must be a dict, got %s" % type(result).__name__)
    data = json.dumps(result, allow_nan=False)
    env = os.environ if environ is None else environ
    path = path or env.get(RESULT_FILE_ENV)
    if not path:
        sys.stdout.write(data + "\n")
        sys.stdout.flush()
        return
    fd, tmp = tempfile.mkstemp(prefix=".result-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
