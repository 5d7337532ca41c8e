"""Measures a runtime client's CPU per warm invocation: the client's utime + stime (all of its
threads, from /proc/PID/stat) over N invokes of a no-op handler, after a warm-up, driven by a
minimal single-threaded Runtime API fake on one loopback connection (FakeRuntimeApi's thread
per request would dominate the wall time). Reports CPU and wall time per invoke.

Run: /usr/bin/python3 measure_invoke_cpu.py [node|python] [N] [extra client args...]
e.g. `measure_invoke_cpu.py node 20000 --cpu-prof --cpu-prof-dir=/tmp/prof` (extra arguments go
to the interpreter, before the client's script).
"""

import os
import socket
import subprocess
import sys
import time

from runtime_test_support import FIXTURES_DIR, NODE_ARGV, PYTHON_ARGV, base_env

WARMUP = 2000
CLK_TCK = os.sysconf("SC_CLK_TCK")
NEXT_HEAD = (b"HTTP/1.1 200 OK\r\n"
             b"Lambda-Runtime-Aws-Request-Id: %s\r\n"
             b"Lambda-Runtime-Deadline-Ms: %d\r\n"
             b"Lambda-Runtime-Invoked-Function-Arn: "
             b"arn:aws:lambda:us-east-1:123456789012:function:test-fn\r\n"
             b"Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;"
             b"Parent=53995c3f42cd8ad8;Sampled=0\r\n"
             b"Content-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n")
ACCEPTED = (b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
            b"Content-Length: 15\r\n\r\n{\"status\":\"OK\"}")
EVENT = b'{"key1":"value1","key2":"value2","key3":"value3"}'


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read_request(self):
        """Returns (method, path) after reading one whole request, or None at EOF."""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        method, path, _ = lines[0].split(b" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        self.buf = self.buf[length:]
        return method, path


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "node"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    extra = sys.argv[3:]
    argv = NODE_ARGV if which == "node" else PYTHON_ARGV
    argv = [argv[0]] + extra + argv[1:]
    task_root = os.path.join(FIXTURES_DIR, "nodejs" if which == "node" else "python")

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    proc = subprocess.Popen(argv, env=base_env(address, "noop.handler", task_root), cwd=task_root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = Connection(listener.accept()[0])
    deadline_ms = int(time.time() * 1000) + 3600 * 1000
    served = 0
    start_cpu = start_wall = None
    while served < WARMUP + n:
        request = conn.read_request()
        if request is None:
            conn = Connection(listener.accept()[0])
            continue
        method, path = request
        if method == b"GET":
            if served == WARMUP:
                start_cpu, start_wall = cpu_seconds(proc.pid), time.monotonic()
            body = EVENT
            rid = b"%08d-0000-4000-8000-000000000000" % served
            conn.sock.sendall(NEXT_HEAD % (rid, deadline_ms, len(body)) + body)
            served += 1
        else:
            conn.sock.sendall(ACCEPTED)
    # The last response is posted before the next GET: wait for it.
    while conn.read_request()[0] != b"GET":
        conn.sock.sendall(ACCEPTED)
    cpu = cpu_seconds(proc.pid) - start_cpu
    wall = time.monotonic() - start_wall
    # A 500 from /next makes the client exit (normally: --cpu-prof writes its profile).
    conn.sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
    proc.wait(30)
    print("%s: %d invokes, CPU %.1f us/invoke, wall %.1f us/invoke"
          % (which, n, cpu / n * 1e6, wall / n * 1e6))


if __name__ == "__main__":
    main()
