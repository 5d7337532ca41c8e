"""Measures a runtime client's own start-up cost: time from process start to its first
GET /runtime/invocation/next, with a no-op handler; median of N runs. Compares with bare
interpreter start (`python3 -c pass`, `node -e 0`). Run: /usr/bin/python3 measure_startup.py
"""

import os
import statistics
import subprocess
import sys
import time

from fake_runtime_api import FakeRuntimeApi
from runtime_test_support import FIXTURES_DIR, NODE, NODE_ARGV, PYTHON, PYTHON_ARGV, base_env

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def time_to_first_next(argv, handler, task_root):
    api = FakeRuntimeApi()
    try:
        env = base_env(api.address, handler, task_root)
        start = time.monotonic_ns()
        proc = subprocess.Popen(argv, env=env, cwd=task_root, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        (_, at), = api.wait_for_next_calls(1)[:1]
        proc.kill()
        proc.wait()
        return (at - start) / 1e6
    finally:
        api.close()


def time_bare(argv):
    start = time.monotonic_ns()
    subprocess.run(argv, check=True)
    return (time.monotonic_ns() - start) / 1e6


def median(f, *args):
    f(*args)  # warm the page cache
    return statistics.median(f(*args) for _ in range(RUNS))


def main():
    py = median(time_to_first_next, PYTHON_ARGV, "noop.handler", os.path.join(FIXTURES_DIR, "python"))
    py_bare = median(time_bare, [PYTHON, "-c", "pass"])
    js = median(time_to_first_next, NODE_ARGV, "noop.handler",
                os.path.join(FIXTURES_DIR, "nodejs"))
    js_bare = median(time_bare, [NODE, "-e", "0"])
    js_file = median(time_bare, [NODE, os.path.join(FIXTURES_DIR, "nodejs", "noop.js")])
    print("median of %d runs (ms)" % RUNS)
    print("python client to first GET /next: %6.1f   bare python3 -c pass: %6.1f   delta %5.1f"
          % (py, py_bare, py - py_bare))
    print("node client to first GET /next:   %6.1f   bare node -e 0:       %6.1f   delta %5.1f"
          % (js, js_bare, js - js_bare))
    print("(bare figures include process exit; bare `node noop.js`: %.1f)" % js_file)


if __name__ == "__main__":
    main()
