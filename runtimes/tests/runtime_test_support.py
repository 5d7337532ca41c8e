"""Helpers shared by the runtime client tests: start a client as a subprocess against a
FakeRuntimeApi and capture its stdout/stderr.

`ChildProcess.drain()` reads whatever the child has written so far without blocking; the fake
server calls it when a POST arrives (`snapshot_output_on_post`), so a test can assert that all
output the client wrote before posting was already in the pipe when the post was received.
"""

import json
import os
import select
import subprocess
import threading
import time
import unittest

from fake_runtime_api import FakeRuntimeApi

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
RUNTIMES_DIR = os.path.dirname(TESTS_DIR)
FIXTURES_DIR = os.path.join(TESTS_DIR, "fixtures")
PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
PYTHON_ARGV = [PYTHON, "-u", os.path.join(RUNTIMES_DIR, "python", "bootstrap.py")]
NODE_ARGV = [NODE, os.path.join(RUNTIMES_DIR, "nodejs", "bootstrap.mjs")]
# The timestamp at the start of a runtime's text log line: "2024-01-14T09:30:00.123Z".
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


class ChildProcess:
    def __init__(self, argv, env, cwd, pass_fds=()):
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=pass_fds,
        )
        self._lock = threading.Lock()
        self._out = {self.proc.stdout.fileno(): bytearray(), self.proc.stderr.fileno(): bytearray()}
        for fd in self._out:
            os.set_blocking(fd, False)
        self._stop = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def drain(self):
        with self._lock:
            for fd, buf in self._out.items():
                while True:
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
                    if not chunk:
                        break
                    buf.extend(chunk)

    def _pump(self):
        fds = list(self._out)
        while not self._stop:
            try:
                select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                return
            self.drain()
            if self.proc.poll() is not None:
                self.drain()
                return

    @property
    def stdout(self):
        self.drain()
        with self._lock:
            return bytes(self._out[self.proc.stdout.fileno()]).decode("utf-8", "replace")

    @property
    def stderr(self):
        self.drain()
        with self._lock:
            return bytes(self._out[self.proc.stderr.fileno()]).decode("utf-8", "replace")

    def wait(self, timeout=10):
        code = self.proc.wait(timeout)
        self._thread.join(2)
        self.drain()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._stop = True
        self._thread.join(2)
        self.drain()
        self.proc.stdout.close()
        self.proc.stderr.close()


def base_env(api_address, handler, task_root, extra=None):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": RUNTIMES_DIR,
        "AWS_LAMBDA_FUNCTION_NAME": "test-fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test-fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/14/[$LATEST]425d2a3419de4db38f86fc1896cc1cc1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    env.update(extra or {})
    return env


class RuntimeTestCase(unittest.TestCase):
    """Starts a fake Runtime API per test; `start()` launches the client under test."""

    ARGV = None
    EXECUTION_ENV = None

    def setUp(self):
        self.api = FakeRuntimeApi()
        self.addCleanup(self.api.close)
        self.child = None
        self.output_at_post = []
        self.api.on_post = self._snapshot_output

    def _snapshot_output(self, post):
        if self.child is not None:
            self.output_at_post.append((post.path, self.child.stdout, self.child.stderr))

    def start(self, handler, task_root, env=None):
        extra = {"AWS_EXECUTION_ENV": self.EXECUTION_ENV}
        extra.update(env or {})
        self.child = ChildProcess(
            self.ARGV, base_env(self.api.address, handler, task_root, extra), task_root
        )
        self.addCleanup(self.child.kill)
        return self.child

    def start_stem_cell(self):
        """Launches the client as a stem cell: no function environment, cwd "/", waiting on
        the pipe named by _NIMBUS_SPECIALIZATION_FD. `specialize()` assigns the function."""
        read_fd, self._specialization_fd = os.pipe()
        self._ready_read, ready_write = os.pipe()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
               "_NIMBUS_SPECIALIZATION_FD": str(read_fd), "_NIMBUS_READY_FD": str(ready_write)}
        self.child = ChildProcess(self.ARGV, env, "/", pass_fds=(read_fd, ready_write))
        os.close(read_fd)
        os.close(ready_write)
        self.addCleanup(os.close, self._ready_read)
        self.addCleanup(self.child.kill)
        return self.child

    def wait_until_loaded(self, timeout=10):
        """Waits for the stem cell to close its readiness descriptor (EOF on our end)."""
        ready, _, _ = select.select([self._ready_read], [], [], timeout)
        self.assertTrue(ready, "the stem cell never reported it had loaded")
        self.assertEqual(os.read(self._ready_read, 1), b"")

    def check_stem_cell(self, handler, task_root):
        """A stem cell loads, waits without calling the Runtime API, then runs `handler` (which
        returns {"env": {k: value or None for k in event["keys"]}, "cwd": cwd}) with exactly the
        environment and working directory it is given."""
        child = self.start_stem_cell()
        self.wait_until_loaded()
        self.assertIsNone(child.proc.poll(), child.stderr)
        self.assertEqual(self.api.posts, [])
        self.specialize(handler, task_root, env={"CUSTOM": "v"})
        _, post = self.invoke({"keys": ["CUSTOM", "_HANDLER", "_NIMBUS_SPECIALIZATION_FD",
                                        "_NIMBUS_READY_FD", "AWS_LAMBDA_FUNCTION_NAME"]})
        self.assertEqual(post.json(), {
            "env": {"CUSTOM": "v", "_HANDLER": handler, "_NIMBUS_SPECIALIZATION_FD": None,
                    "_NIMBUS_READY_FD": None, "AWS_LAMBDA_FUNCTION_NAME": "test-fn"},
            "cwd": task_root,
        })

    # Connection handling, the same for every client; `counter` names a handler that returns
    # {"n": <how many times it has run in this process>}.

    def check_connection_close_replies_are_followed_by_a_new_connection(self, counter, task_root):
        self.api.reply_style = "close"
        self.start(counter, task_root)
        results = [self.invoke({})[1] for _ in range(3)]
        self.assertEqual([p.json()["n"] for p in results], [1, 2, 3])
        self.assertEqual(len({p.connection_id for p in results}), 3)

    def check_a_connection_closed_between_invocations_is_replaced(self, counter, task_root):
        self.api.close_after_post = True
        self.start(counter, task_root)
        results = [self.invoke({})[1] for _ in range(3)]
        self.assertEqual([p.json()["n"] for p in results], [1, 2, 3])
        self.assertEqual(len({p.connection_id for p in results}), 3)
        self.assertIsNone(self.child.proc.poll())

    def check_a_request_on_a_reused_connection_closed_unanswered_is_sent_again(self, counter,
                                                                              task_root):
        self.api.drop_next_on_reused_connections = 1
        self.start(counter, task_root)
        _, first = self.invoke({})
        _, second = self.invoke({})
        self.assertEqual([first.json()["n"], second.json()["n"]], [1, 2])
        self.assertNotEqual(first.connection_id, second.connection_id)
        self.assertEqual(self.api.drop_next_on_reused_connections, 0)
        self.assertEqual(self.child.stderr, "")

    def check_discarded_stem_cell(self):
        """A stem cell whose specialization pipe closes without a payload exits quietly."""
        child = self.start_stem_cell()
        os.close(self._specialization_fd)
        self.assertEqual(child.wait(10), 0)
        self.assertEqual(child.stderr, "")

    def specialize(self, handler, task_root, env=None):
        extra = {"AWS_EXECUTION_ENV": self.EXECUTION_ENV}
        extra.update(env or {})
        payload = json.dumps({"env": base_env(self.api.address, handler, task_root, extra)})
        os.write(self._specialization_fd, payload.encode())
        os.close(self._specialization_fd)

    def invoke(self, event, **kwargs):
        """Queues one event and waits for the client's post for it; returns (request_id, Post)."""
        before = len(self.api.posts)
        request_id = self.api.enqueue(event, **kwargs)
        try:
            posts = self.api.wait_for_posts(before + 1)
        except AssertionError:
            raise AssertionError("no post; stdout=%r stderr=%r" % (self.child.stdout,
                                                                  self.child.stderr))
        post = posts[before]
        self.assertIn(request_id, post.path)
        return request_id, post

    def init_error(self):
        """Waits for the client to post /init/error and exit; returns (Post, exit code)."""
        try:
            post = self.api.wait_for_posts(1)[0]
        except AssertionError:
            raise AssertionError("no init error; stdout=%r stderr=%r" % (self.child.stdout,
                                                                        self.child.stderr))
        self.assertEqual(post.path, "/2018-06-01/runtime/init/error")
        return post, self.child.wait(10)

    def wait_for_output(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.child.stdout:
                return
            time.sleep(0.01)
        self.fail("%r not in stdout %r" % (text, self.child.stdout))
