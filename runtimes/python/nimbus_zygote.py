"""The zygote side of the Python runtime client (docs/decisions/0008-zygotes.md).

The daemon may start `bootstrap.py` as a zygote: a root process, in a copy of the sandbox's
read-only root, that has imported the runtime client (and everything it imports) once and then
forks itself into each new stem cell. It finds its socket to the daemon at _NIMBUS_ZYGOTE_FD and
a descriptor of its own pid namespace at _NIMBUS_ZYGOTE_PID_NS_FD. Each request is a flattened
plan of the new sandbox plus five descriptors; for each one the zygote forks a child in a new pid
namespace, and the child (libnimbus_zygote.so, the same code as the daemon's sandbox init)
becomes the sandbox's init and forks the runtime, which has dropped every privilege when serve()
returns in it. The runtime then goes on exactly as a stem cell started by exec would.

No user code ever runs in the zygote: functions reach a runtime only after it left."""

import ctypes
import gc
import os
import signal
import socket
import sys

_REQUEST_MAX_BYTES = 1 << 16
_REQUEST_FDS = 5  # sync, control, output, specialization, readiness (zygote_protocol.h)


def serve():
    """Serves the daemon's requests until it lets go; returns in each runtime it forks."""
    sock = socket.socket(fileno=int(os.environ.pop("_NIMBUS_ZYGOTE_FD")))
    pid_ns = int(os.environ.pop("_NIMBUS_ZYGOTE_PID_NS_FD"))
    lib = ctypes.CDLL(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "libnimbus_zygote.so"))
    lib.nimbus_zygote_become_sandbox.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    # Children are reaped by the kernel; the daemon follows them by pidfd.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Everything loaded so far moves to the permanent generation: a child's garbage
    # collections never visit (and so never copy) the pages it shares with the zygote.
    gc.freeze()
    lib.nimbus_zygote_ready(sock.fileno())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _REQUEST_MAX_BYTES, _REQUEST_FDS)
        except OSError as e:
            sys.stderr.write("nimbus zygote: receive: %s\n" % e)
            os._exit(1)
        if not data:
            os._exit(0)  # the daemon let go
        if len(fds) != _REQUEST_FDS:
            sys.stderr.write("nimbus zygote: a request with %d descriptors\n" % len(fds))
            for fd in fds:
                os.close(fd)
            continue
        err = lib.nimbus_zygote_new_pid_namespace()
        if err == 0:
            try:
                pid = os.fork()
            except OSError as e:
                pid = -e.errno
        else:
            pid = err
        if pid == 0:
            # Descriptor numbers are the child's to reuse: the socket object must
            # not close one of them later.
            sock.detach()
            fd_array = (ctypes.c_int * _REQUEST_FDS)(*fds)
            lib.nimbus_zygote_become_sandbox(data, len(data), fd_array, _REQUEST_FDS)
            # The runtime: unprivileged, in its sandbox, SIGCHLD back to the default.
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return
        lib.nimbus_zygote_forked(pid_ns, fds[1], pid)
        for fd in fds:
            os.close(fd)
