"""Tests of taskfleet_task: python3 -m unittest discover -s python -v"""

import datetime
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import taskfleet_task

HERE = os.path.dirname(os.path.abspath(__file__))

DOC = {"id": "65f0c0ffee", "pool": "p", "kind": "train", "attempt": 2, "max_attempts": 3,
       "phase": "part_done", "def": {"lr": 0.1, "command": ["sh", "-c", "x"]}, "res": {"fit": 1.5}}


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.task_file = os.path.join(self.dir.name, "task.json")
        with open(self.task_file, "w") as f:
            json.dump(DOC, f)
        self.env = {
            "TASKFLEET_TASK_FILE": self.task_file,
            "TASKFLEET_WORK_DIR": self.dir.name,
            "TASKFLEET_ARTIFACT_DIR": os.path.join(self.dir.name, "artifacts"),
            "TASKFLEET_DEADLINE": "2030-01-02T03:04:05Z",
        }

    def test_fields(self):
        task = taskfleet_task.load(environ=self.env)
        self.assertEqual(task.id, "65f0c0ffee")
        self.assertEqual(task.pool, "p")
        self.assertEqual(task.kind, "train")
        self.assertEqual(task.attempt, 2)
        self.assertEqual(task.max_attempts, 3)
        self.assertEqual(task.phase, "part_done")
        self.assertEqual(task.def_, DOC["def"])
        self.assertEqual(task.res, {"fit": 1.5})
        self.assertEqual(task.work_dir, self.dir.name)
        self.assertEqual(task.artifact_dir, os.path.join(self.dir.name, "artifacts"))
        self.assertEqual(task.deadline, datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
        self.assertIn("train", repr(task))

    def test_defaults(self):
        task = taskfleet_task.Task({"id": "x", "def": {}}, environ={})
        self.assertEqual(task.phase, "waiting")
        self.assertIsNone(task.res)
        self.assertIsNone(task.deadline)
        self.assertIsNone(task.work_dir)
        self.assertEqual(task.max_attempts, 0)

    def test_explicit_path_and_stdin(self):
        self.assertEqual(taskfleet_task.load(self.task_file, environ={}).id, DOC["id"])
        with mock.patch("sys.stdin", io.StringIO(json.dumps(DOC))):
            self.assertEqual(taskfleet_task.load(environ={}).def_, DOC["def"])

    def test_not_an_object(self):
        with self.assertRaises(ValueError):
            taskfleet_task.Task([1, 2], environ={})


class DoneTest(unittest.TestCase):
    def test_writes_result_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "result.json")
            taskfleet_task.done({"ic": 0.05, "n": [1, 2]}, environ={"TASKFLEET_RESULT_FILE": path})
            with open(path) as f:
                self.assertEqual(json.load(f), {"ic": 0.05, "n": [1, 2]})
            self.assertEqual(os.listdir(d), ["result.json"], "no temporary file is left")

    def test_stdout_without_worker(self):
        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            taskfleet_task.done({"a": 1}, environ={})
        self.assertEqual(out.getvalue(), '{"a": 1}\n')

    def test_rejects_non_dict_and_nan(self):
        with self.assertRaises(TypeError):
            taskfleet_task.done([1], environ={})
        with self.assertRaises(ValueError):
            taskfleet_task.done({"x": float("nan")}, environ={})


class SubprocessTest(unittest.TestCase):
    def test_round_trip_in_a_program(self):
        """A program loads its task from stdin and prints its result."""
        code = "import taskfleet_task as t; task = t.load(); t.done({'id': task.id, 'res': task.res})"
        env = {"PYTHONPATH": HERE, "PATH": os.environ.get("PATH", "")}
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(DOC), env=env,
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(json.loads(out), {"id": DOC["id"], "res": DOC["res"]})


if __name__ == "__main__":
    unittest.main()
