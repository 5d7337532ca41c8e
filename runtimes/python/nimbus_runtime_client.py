"""Nimbus runtime interface client for python3.x functions.

Started by the daemon inside an execution environment as
`/usr/bin/python3 -u /var/runtime/python/bootstrap.py`, with cwd /var/task; bootstrap.py only
imports this module, which the build precompiles (a main script would be compiled at every
start, ~4 ms). It loads the handler
named by _HANDLER ("path/module.function"), then loops over the Lambda Runtime API 2018-06-01 at
http://$AWS_LAMBDA_RUNTIME_API: GET /next, call handler(event, context), POST /response or
/error. Behaviour (error types and messages, error body shape, log line formats, context object)
mirrors AWS's awslambdaric so that unmodified handler code works.

A stem cell (a pre-started environment, see docs/decisions/0006-stem-cells.md) is started
with _NIMBUS_SPECIALIZATION_FD set and no function yet: main() blocks reading that descriptor
until the daemon assigns a function, then takes the function's environment from it and goes on
exactly as a fresh start would. Nothing may read the function's environment before that.

Single-threaded; the process serves one invocation at a time. Startup cost is kept low: only
os, sys, time and _socket are imported before the first GET /next; json, traceback, logging
and decimal are imported only when used (see _LazyJson and _ImportHook).
"""

# json (with re and enum) costs ~5 ms to import. It is imported here, during init,
# which Nimbus runs without the function's CPU quota, rather than lazily on the
# first invocation, where a 128 MB function's 7 % of a CPU made it cost ~80 ms.
import json
import os
import sys
import time
import _socket



_RUNTIME_API_PREFIX = "/2018-06-01/runtime"
_USER_AGENT = "nimbus-python/%d.%d.%d" % sys.version_info[:3]
# AWS's Python RIC drops the X-Ray cause rather than send a header of 1 MiB or more.
_MAX_XRAY_CAUSE_BYTES = 1024 * 1024
_ERROR_LOG_LINE_TERMINATE = "\r"
_ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE, as AWS uses for indentation in error logs.
_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# awslambdaric exception types (lambda_runtime_exception.py), verbatim.
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

_LAMBDA_UNHANDLED_EXCEPTION_WARNING = (
    "LAMBDA_WARNING: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function "
    "change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START "
    "log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate "
    "this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)

# From the function's environment, by _configure() (a stem cell learns it late).
_LOG_FORMAT_JSON = False
_LOG_LEVEL = ""

# Read by the logging filter; owned by the invoke loop in run().
_current_request_id = None


class FaultException(Exception):
    """A failure the runtime reports with an AWS `Runtime.*` error type."""

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


class RuntimeApiError(Exception):
    """The Runtime API could not be reached or answered with an unexpected status."""


class RuntimeApiClient:
    """Minimal HTTP/1.1 client for the Runtime API over one persistent connection.

    http.client is not used: importing it pulls in email.* and ssl, which costs 20-50 ms, several
    times the interpreter's own start-up. The Runtime API is plain HTTP/1.1 on loopback, so a
    request writer and a Content-Length/chunked response reader are all that is needed. The
    connection is kept alive across /next and posts and re-opened if the server closed it.
    Thread-compatible.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        if not host:
            host, port = address, "80"
        self._host = host.strip("[]")
        self._port = int(port)
        self._host_header = address
        self._next_request = self._encode("GET", _RUNTIME_API_PREFIX + "/invocation/next", b"", None)
        self._sock = None
        self._rfile = None
        self.connections_opened = 0

    def _connect(self):
        # A bytes host keeps getaddrinfo from importing the idna codec (~1 ms).
        infos = _socket.getaddrinfo(
            self._host.encode("ascii", "ignore") or self._host,
            self._port,
            0,
            _socket.SOCK_STREAM,
        )
        last_error = None
        for family, socktype, proto, _, sockaddr in infos:
            sock = _socket.socket(family, socktype, proto)
            try:
                sock.connect(sockaddr)
            except OSError as e:
                sock.close()
                last_error = e
                continue
            if family in (_socket.AF_INET, _socket.AF_INET6):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self._sock = sock
            self._rfile = _SocketReader(sock)
            self.connections_opened += 1
            return
        raise RuntimeApiError(
            "cannot connect to runtime api %s: %s" % (self._host_header, last_error)
        )

    def close(self):
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._rfile = None

    def request(self, method, path, body=b"", headers=None):
        """Sends one request and returns (status, lowercase-keyed headers, body bytes).

        Retries once on a fresh connection when a reused connection turns out to be closed
        before any response byte arrived (the server may drop idle keep-alive connections).
        """
        return self._exchange(self._encode(method, path, body, headers))

    def _encode(self, method, path, body, headers):
        head = "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Length: %d\r\n" % (
            method,
            path,
            self._host_header,
            _USER_AGENT,
            len(body),
        )
        if headers:
            for name, value in headers.items():
                head += "%s: %s\r\n" % (name, value)
        # One sendall per request: the head and body leave in one write.
        return (head + "\r\n").encode("latin-1", "replace") + body

    def _exchange(self, data):
        for attempt in (0, 1):
            reused = self._sock is not None
            if not reused:
                self._connect()
            try:
                self._sock.sendall(data)
                if not self._rfile.wait_for_data():
                    raise ConnectionResetError("connection closed before response")
            except OSError:
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            try:
                return self._read_response()
            except OSError:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _read_response(self):
        lines = self._rfile.read_head()
        if lines is None:
            raise ConnectionResetError("connection closed inside response headers")
        # The whole head is decoded at once; lines keep the semantics of reading it line by
        # line (split on "\n", names and values stripped as str, the last repeat wins).
        status_line = lines[0]
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            self.close()
            raise RuntimeApiError("bad status line from runtime api: %r" % status_line)
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._rfile.read_exact(int(headers["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = self._rfile.read_to_eof()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self.close()
        return status, headers, body

    def _read_chunked(self):
        chunks = []
        while True:
            size_line = self._rfile.readline()
            if not size_line:
                raise ConnectionResetError("connection closed inside chunked body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self._rfile.read_exact(size))
            self._rfile.readline()

    def next_invocation(self):
        # The same bytes every time: encoded once, in __init__.
        status, headers, body = self._exchange(self._next_request)
        if status != 200:
            raise RuntimeApiError(
                "GET /runtime/invocation/next returned %d: %r" % (status, body[:512])
            )
        return headers, body

    def post_response(self, request_id, body, content_type):
        return self._post(
            "/invocation/%s/response" % _quote(request_id),
            body,
            {"Content-Type": content_type},
        )

    def post_error(self, request_id, error_json, error_type, xray_cause):
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error_type or "Unhandled",
        }
        if xray_cause and len(xray_cause) < _MAX_XRAY_CAUSE_BYTES:
            headers["Lambda-Runtime-Function-XRay-Error-Cause"] = xray_cause
        path = (
            "/init/error"
            if request_id is None
            else "/invocation/%s/error" % _quote(request_id)
        )
        return self._post(path, error_json.encode("utf-8"), headers)

    def _post(self, path, body, headers):
        status, _, reply = self.request("POST", _RUNTIME_API_PREFIX + path, body, headers)
        if status == 202:
            return status
        # 413: the response was too large; the platform fails the invoke itself, so carry on.
        # Other 4xx (unknown or already-answered request id) are reported and skipped; 5xx means
        # the environment is broken, which the caller turns into an exit.
        if status == 413 or 400 <= status < 500:
            _write_stderr(
                "nimbus runtime: POST %s returned %d: %s\n"
                % (path, status, reply[:512].decode("utf-8", "replace"))
            )
            return status
        raise RuntimeApiError("POST %s returned %d: %r" % (path, status, reply[:512]))


class _SocketReader:
    """Buffered reader over a socket (socket.makefile without importing socket.py)."""

    __slots__ = ("_sock", "_buf")

    def __init__(self, sock):
        self._sock = sock
        self._buf = b""

    def _fill(self):
        data = self._sock.recv(65536)
        self._buf += data
        return bool(data)

    def wait_for_data(self):
        """Returns False if the peer closed the connection before sending anything more."""
        return bool(self._buf) or self._fill()

    def read_head(self):
        """Reads a response head up to and including the blank line that ends it; returns
        its lines before that (latin-1 text without line terminators) or None at EOF.

        Same framing as reading it with readline(): the first line is the status line, lines
        end at "\n", and the head ends at the first later line that is "\r\n" or "\n". One
        search per received segment instead of one readline per header line."""
        start = 0
        while True:
            buf = self._buf
            status_end = buf.find(b"\n")
            if status_end >= 0:
                start = max(start, status_end)
                crlf = buf.find(b"\n\r\n", start)
                lf = buf.find(b"\n\n", start)
                end = crlf if lf < 0 or 0 <= crlf < lf else lf
                if end >= 0:
                    head, self._buf = buf[: end + 1], buf[end + (3 if end == crlf else 2) :]
                    lines = head.decode("latin-1").split("\n")
                    lines.pop()  # the empty text after the head's last "\n"
                    return [line[:-1] if line[-1:] == "\r" else line for line in lines]
                # Search again only where a blank line could start in what arrives next.
                start = max(status_end, len(buf) - 2)
            if not self._fill():
                return None

    def readline(self):
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[: i + 1], self._buf[i + 1 :]
                return line
            if not self._fill():
                line, self._buf = self._buf, b""
                return line

    def read_exact(self, n):
        while len(self._buf) < n:
            if not self._fill():
                raise ConnectionResetError("connection closed inside response body")
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read_to_eof(self):
        while self._fill():
            pass
        data, self._buf = self._buf, b""
        return data


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _quote(request_id):
    # Request ids are UUIDs; escape anything that could break the request line.
    if _UNRESERVED.issuperset(request_id):
        return request_id
    return "".join(
        c if (c.isascii() and (c.isalnum() or c in "-_.~")) else "".join(
            "%%%02X" % b for b in c.encode("utf-8")
        )
        for c in request_id
    )


def _write_stderr(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        pass


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


class Unbuffered:
    """Flush-after-write wrapper, as awslambdaric installs, used when not started with -u."""

    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink:
    """Where the runtime's own log output goes: stdout, as AWS's StandardLogSink."""

    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write(_ERROR_LOG_LINE_TERMINATE.join(message_lines) + "\n")


class LambdaContext:
    """The `context` argument (awslambdaric lambda_context.py)."""

    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        environ = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = _make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _make_obj_from_dict(Client, self.client_context.client)

        self.identity = identity = CognitoIdentity()
        identity.cognito_identity_id = identity.cognito_identity_pool_id = None
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get(
                "cognitoIdentityPoolId"
            )

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        _LOG_SINK.log(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client:
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"custom={self.custom},"
            f"env={self.env},"
            f"client={self.client}"
            "])"
        )


def _make_obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field, None))
    return obj


# --- JSON marshalling -------------------------------------------------------------------------

# AWS (simplejson) emits ensure_ascii=False only for AWS_Lambda_python3.12 (set by _configure).
_ENSURE_ASCII = True


def to_json(obj):
    """Encodes like awslambdaric's Encoder: Decimal written as its exact digits, NaN as NaN.

    The stdlib encoder cannot emit raw number text, so Decimals are first encoded as unique
    placeholder strings and then substituted; the placeholder prefix contains a random token so
    it cannot collide with user strings. The common case (no Decimal) takes the plain path.
    """
    # Common case first: nothing a plain encoder cannot write (a Decimal, or something that
    # cannot be written at all, raises TypeError; both take the path below, which re-encodes
    # from the start and raises the same TypeError text for the second kind).
    try:
        return (_ascii_encode if _ENSURE_ASCII else _unicode_encode)(obj)
    except TypeError:
        pass
    decimals = []

    def default(o):
        import decimal

        if isinstance(o, decimal.Decimal):
            decimals.append("NaN" if o.is_nan() else str(o))
            return _decimal_marker() + str(len(decimals) - 1) + "\x01"
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    text = json.dumps(obj, ensure_ascii=_ENSURE_ASCII, default=default)
    if decimals:
        marker = json.dumps(_decimal_marker(), ensure_ascii=_ENSURE_ASCII)[1:-1]
        end = json.dumps("\x01")[1:-1]
        for i, raw in enumerate(decimals):
            text = text.replace('"%s%d%s"' % (marker, i, end), raw, 1)
    return text


_ascii_encode = json.JSONEncoder(ensure_ascii=True).encode
_unicode_encode = json.JSONEncoder(ensure_ascii=False).encode
_decimal_marker_value = None


def _decimal_marker():
    global _decimal_marker_value
    if _decimal_marker_value is None:
        _decimal_marker_value = "\x01nimbus-decimal-" + os.urandom(12).hex() + ":"
    return _decimal_marker_value


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None)


def unmarshal_request(body, content_type):
    # AWS passes the raw bytes through for non-JSON content types. A missing Content-Type is
    # treated as JSON (AWS always sends one).
    if content_type and content_type != "application/json":
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None)


# --- errors -----------------------------------------------------------------------------------


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


_RUNTIME_FILES = ("/bootstrap.py", "/nimbus_runtime_client.py")


def _extract_user_traceback(tb):
    import traceback

    tb_tuples = [
        (frame.filename, frame.lineno, frame.name, frame.line)
        for frame in traceback.extract_tb(tb)
    ]
    # Drop the runtime's own leading frames, as awslambdaric does.
    for i in range(len(tb_tuples)):
        if not tb_tuples[i][0].endswith(_RUNTIME_FILES):
            tb_tuples = tb_tuples[i:]
            break
    return tb_tuples


def _format_list(tb_tuples):
    import traceback

    return traceback.format_list(tb_tuples)


def make_xray_fault(ex_type, ex_msg, working_dir, tb_tuples):
    stack = []
    files = set()
    for tb_file, tb_line, tb_method, _ in tb_tuples:
        stack.append({"label": tb_method, "path": tb_file, "line": tb_line})
        files.add(tb_file)
    return {
        "working_directory": working_dir,
        "exceptions": [{"message": ex_msg, "type": ex_type, "stack": stack}],
        "paths": list(files),
    }


def _replace_line_indentation(line, indent_char, new_indent_char):
    count = 0
    for c in line:
        if c != indent_char:
            break
        count += 1
    return (new_indent_char * count) + line[count:]


def log_error(error_result):
    """Writes an error record to stdout exactly as awslambdaric's log_error does."""
    if _LOG_FORMAT_JSON:
        record = {
            "timestamp": time.strftime(_DATETIME_FORMAT, time.gmtime(time.time())),
            "level": "ERROR",
            **error_result,
        }
        _LOG_SINK.log_error([to_json(record)])
        return
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    error_message = error_result.get("errorMessage")
    if error_message:
        if error_type:
            description += ":"
        description += " " + error_message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(_replace_line_indentation(trace_line, " ", _ERROR_LOG_IDENT))
    _LOG_SINK.log_error(lines)


# --- logging ----------------------------------------------------------------------------------

_JSON_RESERVED_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
    "thread", "threadName", "processName", "process", "aws_request_id", "tenant_id",
    "_frame_type", "taskName",
}


def _install_lambda_logging(logging):
    """Installs the root handler the way awslambdaric's _setup_logging does."""

    class LambdaLoggerHandler(logging.Handler):
        def __init__(self, log_sink):
            logging.Handler.__init__(self)
            self.log_sink = log_sink

        def emit(self, record):
            msg = self.format(record)
            self.log_sink.log(msg)

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _current_request_id or ""
            record.tenant_id = None
            return True

    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler(_LOG_SINK)
    if _LOG_FORMAT_JSON:
        handler.setFormatter(_make_json_formatter(logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                _DATETIME_FORMAT,
            )
        )
    if _LOG_LEVEL in logging._nameToLevel:
        logger.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


def _make_json_formatter(logging):
    encode = json.JSONEncoder(ensure_ascii=False).encode

    def normalized_level(record):
        return min(50, max(0, record.levelno)) // 10 * 10

    class JsonFormatter(logging.Formatter):
        def __init__(self):
            super().__init__(datefmt=_DATETIME_FORMAT)

        def formatTime(self, record, datefmt=None):
            t = time.gmtime(record.created)
            return "%s.%03dZ" % (time.strftime(_DATETIME_FORMAT, t), int(record.msecs))

        def format(self, record):
            import traceback

            record.levelno = normalized_level(record)
            record.levelname = logging.getLevelName(record.levelno)
            exc_info = record.exc_info
            result = {
                "timestamp": self.formatTime(record, self.datefmt),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
                "errorType": exc_info[0].__name__ if exc_info else None,
                "errorMessage": str(exc_info[1]) if exc_info else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": (
                    f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None
                ),
            }
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update(
                (key, value)
                for key, value in record.__dict__.items()
                if key not in _JSON_RESERVED_FIELDS and key not in result
            )
            result = {k: v for k, v in result.items() if v is not None}
            return encode(result) + "\n"

    return JsonFormatter()


class _ImportHook:
    """Runs `configure(module)` right after the module `name` is first imported.

    Importing logging costs several milliseconds, so the runtime does not import it eagerly;
    botocore is the function's to import. This meta path finder wraps the module's loader so
    that `configure` runs right after the module body, before any user code can see the
    module. It removes itself after firing. If the module is already imported, install()
    configures it at once.
    """

    def __init__(self, name, configure):
        self._name = name
        self._configure = configure

    def install(self):
        if self._name in sys.modules:
            self._configure(sys.modules[self._name])
        else:
            sys.meta_path.insert(0, self)

    def find_spec(self, name, path=None, target=None):
        if name != self._name:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ConfiguringLoader(spec.loader, self._configure)
        return spec


class _ConfiguringLoader:
    def __init__(self, loader, configure):
        self._loader = loader
        self._configure = configure

    def __getattr__(self, attr):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        module.__spec__.loader = self._loader
        self._configure(module)


def _use_endpoint_url(session_module):
    """Makes botocore clients honour AWS_ENDPOINT_URL[_<SERVICE>] as botocore >= 1.31 does.

    Nimbus points the SDKs at its API endpoint inside the sandbox with AWS_ENDPOINT_URL (the
    managed runtime's boto3 is Debian's botocore 1.29, which predates the variable). A client
    created without an explicit endpoint_url gets the service's variable, else the global one."""
    import botocore

    try:
        version = tuple(int(x) for x in botocore.__version__.split(".")[:2])
    except ValueError:
        return
    if version >= (1, 31):
        return
    create_client = session_module.Session.create_client

    def create_client_at_endpoint(self, service_name, *args, **kwargs):
        # endpoint_url is create_client's fifth parameter after service_name.
        if len(args) < 5 and kwargs.get("endpoint_url") is None:
            variable = "AWS_ENDPOINT_URL_" + service_name.upper().replace("-", "_").replace(" ", "_")
            url = os.environ.get(variable) or os.environ.get("AWS_ENDPOINT_URL")
            if url:
                kwargs["endpoint_url"] = url
        return create_client(self, service_name, *args, **kwargs)

    session_module.Session.create_client = create_client_at_endpoint


# --- handler loading --------------------------------------------------------------------------


def _get_handler(handler):
    """Imports the handler's module and returns the function (awslambdaric _get_handler)."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        import importlib

        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e))
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            USER_CODE_SYNTAX_ERROR, "Syntax error in module '{}': {}".format(modname, str(e)), trace
        )

    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname), None
        )


def _setup_sys_path():
    # Drop this script's directory (sys.path[0]) so that runtime files can never shadow user
    # modules, then use the AWS order: task root, layer paths, runtime dir, stdlib.
    script_dir = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path[1:] if p != script_dir]
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
    version = "python%d.%d" % sys.version_info[:2]
    front = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python", runtime_dir]
    sys.path[:] = front + [p for p in rest if p not in front]


# --- main loop --------------------------------------------------------------------------------

_LOG_SINK = StandardLogSink()


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise FaultException(
            LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, str(e)), None
        )


def handle_event_request(client, request_handler, invoke_id, headers, body):
    error_result = None
    xray_fault = None
    try:
        client_context_json = headers.get("lambda-runtime-client-context")
        cognito_identity_json = headers.get("lambda-runtime-cognito-identity")
        try:
            deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
        except ValueError:
            deadline_ms = 0
        context = LambdaContext(
            invoke_id,
            _parse_json_header(client_context_json, "Client Context")
            if client_context_json
            else None,
            _parse_json_header(cognito_identity_json, "Cognito Identity")
            if cognito_identity_json
            else None,
            deadline_ms,
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        event = unmarshal_request(body, headers.get("content-type"))
        response = request_handler(event, context)
        result, content_type = marshal_response(response)
    except FaultException as e:
        xray_fault = make_xray_fault("LambdaValidationError", e.msg, os.getcwd(), [])
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        tb_tuples = _extract_user_traceback(tb)
        xray_fault = make_xray_fault(etype.__name__, str(value), os.getcwd(), tb_tuples)
        error_result = make_error(str(value), etype.__name__, _format_list(tb_tuples), invoke_id)
        del tb

    if error_result is not None:
        log_error(error_result)
        _flush_std_streams()
        client.post_error(
            invoke_id, to_json(error_result), error_result["errorType"], to_json(xray_fault)
        )
    else:
        _flush_std_streams()
        client.post_response(invoke_id, result, content_type)


def _report_init_error(client, error_result):
    import logging

    logging.warning(_LAMBDA_UNHANDLED_EXCEPTION_WARNING)
    log_error(error_result)
    _flush_std_streams()
    client.post_error(None, to_json(error_result), error_result["errorType"], None)


def run(handler, client):
    global _current_request_id
    # Started with -u (or PYTHONUNBUFFERED): writes already reach the pipe at once.
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not (getattr(stream, "write_through", False) and not hasattr(stream.buffer, "raw")):
            setattr(sys, name, Unbuffered(stream))
    _setup_sys_path()
    _ImportHook("logging", _install_lambda_logging).install()
    _ImportHook("botocore.session", _use_endpoint_url).install()

    try:
        request_handler = _get_handler(handler)
    except FaultException as e:
        _report_init_error(client, make_error(e.msg, e.exception_type, e.trace))
        sys.exit(1)
    except Exception:
        etype, value, tb = sys.exc_info()
        error = make_error(str(value), etype.__name__, _format_list(_extract_user_traceback(tb)))
        del tb
        _report_init_error(client, error)
        sys.exit(1)

    while True:
        headers, body = client.next_invocation()
        invoke_id = headers.get("lambda-runtime-aws-request-id", "")
        _current_request_id = invoke_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        handle_event_request(client, request_handler, invoke_id, headers, body)


def _specialize(fd, ready_fd):
    """A stem cell: waits for the daemon to assign a function, then takes on its environment.

    The daemon has mounted the function's code and layers by the time it writes; the payload
    is a JSON object {"env": {...}}: the whole environment the runtime would have been started
    with. EOF without a payload means the cell is being discarded. Closing `ready_fd` first
    tells the daemon this cell has loaded."""
    if ready_fd is not None:
        os.close(int(ready_fd))
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        sys.exit(0)
    env = json.loads(b"".join(chunks))["env"]
    os.environ.clear()
    os.environ.update(env)
    # The cwd was the empty directory the code is now mounted over.
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))


def _configure():
    global _LOG_FORMAT_JSON, _LOG_LEVEL, _ENSURE_ASCII
    _LOG_FORMAT_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    _LOG_LEVEL = {None: "", "TRACE": "DEBUG"}.get(level, level or "").upper()
    _ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in {"AWS_Lambda_python3.12"}


def main():
    specialization_fd = os.environ.get("_NIMBUS_SPECIALIZATION_FD")
    if specialization_fd is not None:
        _specialize(int(specialization_fd), os.environ.get("_NIMBUS_READY_FD"))
    _configure()
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    handler = os.environ.get("_HANDLER")
    if len(sys.argv) > 1:
        handler = sys.argv[1]
    if not address or not handler:
        _write_stderr("nimbus runtime: AWS_LAMBDA_RUNTIME_API and _HANDLER must be set\n")
        sys.exit(2)
    client = RuntimeApiClient(address)
    try:
        run(handler, client)
    except (RuntimeApiError, OSError) as e:
        _flush_std_streams()
        _write_stderr("nimbus runtime: runtime api failure: %s\n" % e)
        sys.exit(1)

