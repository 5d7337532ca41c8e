"""A fake Lambda Runtime API (2018-06-01) server for testing the runtime clients.

Tests queue events with `enqueue()`; a client's GET /next blocks until an event is queued (or
the server is closed) and receives it with the same headers the Nimbus daemon sends. Every
POST is recorded as a `Post(path, headers, body, ...)` so tests can assert on the exact bytes.
The server also records which TCP connection carried each request, and the order in which
client output and posts happened (see `ChildProcess` in runtime_test_support.py).

Thread-safe: the HTTP server runs one thread per connection; all shared state is guarded by
`self._cond`.
"""

import http.server
import json
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

PREFIX = "/2018-06-01/runtime"

# RIE's MaxPayloadSize: 6 MiB + 100 bytes.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100


@dataclass
class Event:
    body: bytes
    request_id: str
    deadline_ms: int
    function_arn: str
    trace_id: str = ""
    client_context: str = ""
    cognito_identity: str = ""
    content_type: str = "application/json"


@dataclass
class Post:
    path: str
    headers: dict
    body: bytes
    connection_id: int
    monotonic_ns: int

    def json(self):
        return json.loads(self.body)


@dataclass
class _State:
    events: list = field(default_factory=list)
    posts: list = field(default_factory=list)
    next_calls: list = field(default_factory=list)  # (connection_id, monotonic_ns)
    closed: bool = False


class FakeRuntimeApi:
    def __init__(self, max_payload_bytes=MAX_PAYLOAD_BYTES):
        self._cond = threading.Condition()
        self._state = _State()
        self._connection_ids = 0
        self.max_payload_bytes = max_payload_bytes
        # Called with each Post on the server thread before it is recorded and answered.
        self.on_post = None
        # How replies are written: None (Content-Length, one write), "chunked" (a chunked
        # body in small chunks, with a chunk extension and a trailer), "split" (the reply in
        # pieces, split inside a header line, inside the blank line and inside the body, sent
        # as separate TCP segments) or "close" (`Connection: close`, then the server closes).
        self.reply_style = None
        # Close each connection, without saying so, once a POST has been answered.
        self.close_after_post = False
        # Close this many connections, without answering, when a GET /next arrives on a
        # connection that already carried a request (as a server dropping an idle connection
        # just as the client reuses it).
        self.drop_next_on_reused_connections = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.requests_served = 0
                with fake._cond:
                    fake._connection_ids += 1
                    self.connection_id = fake._connection_ids

            def log_message(self, *args):
                pass

            def _reply(self, status, body, content_type="application/json", headers=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.requests_served += 1
                if fake.reply_style is not None:
                    self._reply_styled(fake.reply_style, status, data, content_type, headers)
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    # The client went away (e.g. it exited after /init/error); nothing to do.
                    self.close_connection = True

            def _reply_styled(self, style, status, data, content_type, headers):
                head = ["HTTP/1.1 %d %s" % (status, self.responses[status][0]),
                        "Content-Type: " + content_type]
                head += ["%s: %s" % kv for kv in (headers or {}).items()]
                if style == "chunked":
                    head.append("Transfer-Encoding: chunked")
                    body = b"".join(b"%x%s\r\n%s\r\n" % (len(piece), b";ext=1" if i == 0 else b"",
                                                            piece)
                                    for i, piece in enumerate(
                                        data[j:j + 7] for j in range(0, len(data), 7)))
                    body += b"0\r\nX-Trailer: t\r\n\r\n"
                else:
                    head.append("Content-Length: %d" % len(data))
                    body = data
                if style == "close":
                    head.append("Connection: close")
                    self.close_connection = True
                raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
                if style != "split":
                    self._write(raw)
                    return
                head_end = raw.index(b"\r\n\r\n")
                cuts = sorted({len(head[0]) + 5, head_end + 2, head_end + 4 + len(data) // 2})
                for start, end in zip([0] + cuts, cuts + [len(raw)]):
                    self._write(raw[start:end])
                    # Time for the piece to leave as its own segment and be read on its own.
                    time.sleep(0.02)

            def _write(self, data):
                try:
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def do_GET(self):
                if self.path != PREFIX + "/invocation/next":
                    self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                    return
                with fake._cond:
                    if self.requests_served > 0 and fake.drop_next_on_reused_connections > 0:
                        fake.drop_next_on_reused_connections -= 1
                        self.close_connection = True
                        return
                    fake._state.next_calls.append((self.connection_id, time.monotonic_ns()))
                    fake._cond.notify_all()
                    while not fake._state.events and not fake._state.closed:
                        fake._cond.wait()
                    if fake._state.closed:
                        self.close_connection = True
                        self._reply(500, {"errorType": "InternalServerError",
                                          "errorMessage": "shutting down"})
                        return
                    event = fake._state.events.pop(0)
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": event.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(event.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": event.function_arn,
                }
                if event.trace_id:
                    headers["Lambda-Runtime-Trace-Id"] = event.trace_id
                if event.client_context:
                    headers["Lambda-Runtime-Client-Context"] = event.client_context
                if event.cognito_identity:
                    headers["Lambda-Runtime-Cognito-Identity"] = event.cognito_identity
                self._reply(200, event.body, event.content_type, headers)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                post = Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                            self.connection_id, time.monotonic_ns())
                if fake.on_post is not None:
                    fake.on_post(post)
                with fake._cond:
                    fake._state.posts.append(post)
                    fake._cond.notify_all()
                if self.path.endswith("/response") and length > fake.max_payload_bytes:
                    self._reply(413, {"errorType": "RequestEntityTooLarge",
                                      "errorMessage": "Exceeded maximum allowed payload size "
                                      "(%d bytes)." % fake.max_payload_bytes})
                    return
                self._reply(202, {"status": "OK"})
                if fake.close_after_post:
                    self.close_connection = True

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # Peers that disconnect mid-request are expected (clients exit after
                # /init/error); anything else is a bug in this fake and is printed.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self):
        host, port = self._server.server_address[:2]
        return "%s:%d" % (host, port)

    def enqueue(self, body, request_id=None, timeout_ms=3000, function_arn=None, **kwargs):
        """Queues one invocation; returns its request id. `body` may be bytes or a JSON value."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request_id = request_id or str(uuid.uuid4())
        event = Event(
            body=body,
            request_id=request_id,
            deadline_ms=int(time.time() * 1000) + timeout_ms,
            function_arn=function_arn
            or "arn:aws:lambda:us-east-1:123456789012:function:test-fn",
            **kwargs,
        )
        with self._cond:
            self._state.events.append(event)
            self._cond.notify_all()
        return request_id

    def wait_for_posts(self, count, timeout=10.0):
        """Blocks until at least `count` posts arrived; returns a copy of all posts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._state.posts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "expected %d posts, got %d: %r" % (count, len(self._state.posts),
                                                           self._state.posts))
                self._cond.wait(remaining)
            return list(self._state.posts)

    def wait_for_next_calls(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._state.next_calls) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("expected %d GET /next, got %d"
                                         % (count, len(self._state.next_calls)))
                self._cond.wait(remaining)
            return list(self._state.next_calls)

    @property
    def posts(self):
        with self._cond:
            return list(self._state.posts)

    def close(self):
        with self._cond:
            self._state.closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
