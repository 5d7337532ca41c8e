"""Specification of the Python runtime client (runtimes/python/nimbus_runtime_client.py), driven as a
subprocess against FakeRuntimeApi with the handlers in fixtures/python/."""

import json
import os
import re
import socket
import sys
import time
import unittest

from runtime_test_support import FIXTURES_DIR, PYTHON_ARGV, RUNTIMES_DIR, TS, RuntimeTestCase

sys.path.insert(0, os.path.join(RUNTIMES_DIR, "python"))
import nimbus_runtime_client  # noqa: E402  (for the in-process specifications below)

TASK_ROOT = os.path.join(FIXTURES_DIR, "python")
ARN = "arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod"


class PythonClientTest(RuntimeTestCase):
    ARGV = PYTHON_ARGV
    EXECUTION_ENV = "AWS_Lambda_python3.11"

    def test_posts_the_handler_result_as_json_to_the_response_endpoint(self):
        self.start("app.echo", TASK_ROOT)
        request_id, post = self.invoke({"k": [1, "two", None]}, request_id="req-1")
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/req-1/response")
        self.assertEqual(post.body, b'{"echo": {"k": [1, "two", null]}, "requestId": "req-1"}')
        self.assertEqual(post.headers["content-type"], "application/json")

    def test_a_stem_cell_waits_then_runs_with_the_function_environment_it_is_given(self):
        self.check_stem_cell("app.environment", TASK_ROOT)

    def test_a_stem_cell_exits_quietly_when_discarded_before_specialization(self):
        self.check_discarded_stem_cell()

    def test_posts_null_when_the_handler_returns_none(self):
        self.start("app.noop", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b"null")

    def test_context_carries_environment_and_header_fields(self):
        self.start("app.context_fields", TASK_ROOT)
        request_id, post = self.invoke(
            {}, timeout_ms=60000, function_arn=ARN,
            cognito_identity='{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}')
        ctx = post.json()
        self.assertEqual(ctx["aws_request_id"], request_id)
        self.assertEqual(ctx["function_name"], "test-fn")
        self.assertEqual(ctx["function_version"], "$LATEST")
        self.assertEqual(ctx["invoked_function_arn"], ARN)
        self.assertEqual(ctx["memory_limit_in_mb"], "256")
        self.assertEqual(ctx["memory_type"], "str")
        self.assertEqual(ctx["log_group_name"], "/aws/lambda/test-fn")
        self.assertEqual(ctx["log_stream_name"],
                         "2024/01/14/[$LATEST]425d2a3419de4db38f86fc1896cc1cc1")
        self.assertGreater(ctx["remaining"], 50000)
        self.assertLessEqual(ctx["remaining"], 60000)
        self.assertEqual(ctx["identity"], ["id-1", "pool-1"])
        self.assertIsNone(ctx["client_context"])

    def test_remaining_time_counts_down_towards_the_deadline(self):
        self.start("app.remaining_after_sleep", TASK_ROOT)
        _, post = self.invoke({"sleep_ms": 300}, timeout_ms=5000)
        before, after = post.json()
        self.assertLessEqual(before, 5000)
        self.assertGreaterEqual(before - after, 290)
        self.assertLess(before - after, 2000)

    def test_remaining_time_is_floored_at_zero_after_the_deadline(self):
        self.start("app.context_fields", TASK_ROOT)
        _, post = self.invoke({}, timeout_ms=-5000)
        self.assertEqual(post.json()["remaining"], 0)

    def test_client_context_header_becomes_context_client_context(self):
        self.start("app.context_fields", TASK_ROOT)
        client_context = {
            "client": {"installation_id": "inst", "app_title": "title",
                       "app_version_name": "1.0", "app_version_code": "42",
                       "app_package_name": "com.example"},
            "custom": {"tenant": "blue"},
            "env": {"platform": "linux"},
        }
        _, post = self.invoke({}, client_context=json.dumps(client_context))
        self.assertEqual(post.json()["client_context"], client_context)

    def test_trace_header_is_exported_as_x_amzn_trace_id_per_invoke(self):
        self.start("app.context_fields", TASK_ROOT)
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        _, first = self.invoke({}, trace_id=trace)
        _, second = self.invoke({})
        self.assertEqual(first.json()["trace_env"], trace)
        self.assertIsNone(second.json()["trace_env"])

    def test_handler_exception_posts_aws_error_document(self):
        self.start("app.fail", TASK_ROOT)
        request_id, post = self.invoke({"why": "disk"})
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/%s/error" % request_id)
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "MyError")
        body = post.json()
        self.assertEqual(list(body), ["errorMessage", "errorType", "requestId", "stackTrace"])
        self.assertEqual(body["errorMessage"], "it broke: disk")
        self.assertEqual(body["errorType"], "MyError")
        self.assertEqual(body["requestId"], request_id)
        app = os.path.join(TASK_ROOT, "app.py")
        self.assertEqual(len(body["stackTrace"]), 2)
        self.assertTrue(body["stackTrace"][0].startswith('  File "%s", line ' % app))
        self.assertIn(", in fail\n    helper(event)\n", body["stackTrace"][0])
        self.assertIn(", in helper\n    raise MyError(", body["stackTrace"][1])
        cause = json.loads(post.headers["lambda-runtime-function-xray-error-cause"])
        self.assertEqual(cause["exceptions"][0]["type"], "MyError")

    def test_handler_exception_is_logged_to_stdout_in_aws_format(self):
        self.start("app.fail", TASK_ROOT)
        self.invoke({"why": "disk"})
        self.wait_for_output("Traceback")
        out = self.child.stdout
        self.assertTrue(out.startswith("[ERROR] MyError: it broke: disk\rTraceback (most recent "
                                       "call last):\r\u00a0\u00a0File "), repr(out))
        self.assertTrue(out.endswith("\n"))
        self.assertEqual(out.count("\n"), 1)

    def test_unserialisable_result_is_a_marshal_error(self):
        self.start("app.unserializable", TASK_ROOT)
        request_id, post = self.invoke({})
        self.assertTrue(post.path.endswith("/error"))
        self.assertEqual(post.json(), {
            "errorMessage": "Unable to marshal response: Object of type object is not JSON "
                            "serializable",
            "errorType": "Runtime.MarshalError",
            "requestId": request_id,
            "stackTrace": [],
        })

    def test_decimal_results_are_written_with_their_exact_digits(self):
        self.start("app.decimal_result", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b'{"price": 12.50, "big": 1234567890.123456789, '
                                    b'"list": [1, -0.5], "f": 1.5}')

    def test_bytes_results_are_posted_raw(self):
        self.start("app.raw_bytes", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b"\x00\x01raw")
        self.assertEqual(post.headers["content-type"], "application/unknown")

    def test_non_ascii_is_escaped_for_python_3_11(self):
        self.start("app.unicode_result", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b'{"s": "h\\u00e9llo \\u2713"}')

    def test_nested_module_path_imports_package_module(self):
        self.start("src/app.handler", TASK_ROOT)
        _, post = self.invoke({"x": 1})
        self.assertEqual(post.json(), {"module": "src.app", "event": {"x": 1}})

    def test_logging_writes_aws_text_lines_and_print_stays_raw(self):
        self.start("app.log_lines", TASK_ROOT)
        request_id, post = self.invoke({})
        self.assertEqual(post.body, b'"ok"')
        out = self.output_at_post[0][1]
        lines = out.split("\n")
        self.assertEqual(lines[0], "printed line")
        self.assertRegex(lines[1], r"^\[INFO\]\t%s\t%s\tinfo via root arg$" % (TS, request_id))
        self.assertRegex(lines[2], r"^\[WARNING\]\t%s\t%s\twarn via child$" % (TS, request_id))
        self.assertEqual(lines[3], "raw write no newline")
        self.assertEqual(len(lines), 4)
        self.assertNotIn("debug hidden", out)

    def test_root_logger_keeps_the_default_warning_level(self):
        self.start("app.log_default_level", TASK_ROOT)
        request_id, _ = self.invoke({})
        self.assertRegex(self.output_at_post[0][1],
                         r"^\[WARNING\]\t%s\t%s\twarning shows\n$" % (TS, request_id))

    def test_log_level_env_var_sets_the_root_level(self):
        self.start("app.log_lines", TASK_ROOT, env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
        self.invoke({})
        self.assertRegex(self.output_at_post[0][1], r"\[DEBUG\]\t%s\t[-0-9a-f]+\tdebug hidden" % TS)

    def test_json_log_format_writes_json_records(self):
        self.start("app.log_lines", TASK_ROOT, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        request_id, _ = self.invoke({})
        out = self.output_at_post[0][1]
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        self.assertEqual(len(records), 2)
        self.assertEqual(list(records[0]), ["timestamp", "level", "message", "logger", "requestId"])
        self.assertRegex(records[0]["timestamp"], "^%s$" % TS)
        self.assertEqual(records[0]["level"], "INFO")
        self.assertEqual(records[0]["message"], "info via root arg")
        self.assertEqual(records[0]["logger"], "root")
        self.assertEqual(records[0]["requestId"], request_id)
        self.assertEqual((records[1]["level"], records[1]["logger"]), ("WARNING", "child"))
        self.assertIn("printed line\n", out)

    def test_json_log_format_records_exceptions_and_extra_fields(self):
        self.start("app.log_exception", TASK_ROOT, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        self.invoke({})
        record = json.loads(self.output_at_post[0][1].splitlines()[0])
        self.assertEqual(record["level"], "ERROR")
        self.assertEqual(record["errorType"], "KeyError")
        self.assertEqual(record["errorMessage"], "'k'")
        self.assertEqual(record["orderId"], 7)
        self.assertRegex(record["location"], r"app\.py:log_exception:\d+$")
        self.assertEqual(len(record["stackTrace"]), 1)

    def test_json_log_format_logs_handler_errors_as_json(self):
        self.start("app.fail", TASK_ROOT, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        request_id, _ = self.invoke({"why": "x"})
        record = json.loads(self.output_at_post[0][1].splitlines()[0])
        self.assertEqual(record["level"], "ERROR")
        self.assertEqual(record["errorType"], "MyError")
        self.assertEqual(record["requestId"], request_id)
        self.assertRegex(record["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")

    def test_output_reaches_the_pipe_before_the_response_is_posted(self):
        self.start("app.print_then_return", TASK_ROOT)
        for _ in range(3):
            request_id, post = self.invoke({})
            _, out, err = self.output_at_post[-1]
            self.assertIn("line-before-response %s\n" % request_id, out)
            self.assertIn("stderr-before-response\n", err)

    def test_several_invokes_reuse_one_process_and_one_connection(self):
        self.start("app.counter", TASK_ROOT)
        results = [self.invoke({})[1] for _ in range(5)]
        bodies = [p.json() for p in results]
        self.assertEqual([b["n"] for b in bodies], [1, 2, 3, 4, 5])
        self.assertEqual({b["pid"] for b in bodies}, {self.child.proc.pid})
        self.assertEqual({p.connection_id for p in results}, {results[0].connection_id})
        next_calls = self.api.wait_for_next_calls(6)
        self.assertEqual({c for c, _ in next_calls}, {results[0].connection_id})

    def test_oversized_response_413_does_not_stop_the_loop(self):
        self.api.max_payload_bytes = 1000
        self.start("app.big", TASK_ROOT)
        _, first = self.invoke({"size": 5000})
        self.assertEqual(len(first.body), 5002)
        _, second = self.invoke({"size": 10})
        self.assertEqual(second.body, b'"xxxxxxxxxx"')
        self.assertIsNone(self.child.proc.poll())

    def test_malformed_event_is_an_unmarshal_error(self):
        self.start("app.echo", TASK_ROOT)
        _, post = self.invoke(b"{not json")
        body = post.json()
        self.assertEqual(body["errorType"], "Runtime.UnmarshalError")
        self.assertTrue(body["errorMessage"].startswith("Unable to unmarshal input: Expecting "))

    def test_non_ascii_is_written_raw_for_python_3_12(self):
        self.start("app.unicode_result", TASK_ROOT,
                   env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"})
        _, post = self.invoke({})
        self.assertEqual(post.body, '{"s": "h\u00e9llo \u2713"}'.encode("utf-8"))

    # The Runtime API connection: whatever HTTP/1.1 framing the server uses, the client reads
    # the same invocations and keeps to one connection while the server keeps it open.

    def test_chunked_responses_from_the_api_are_read_whole(self):
        self.api.reply_style = "chunked"
        self.start("app.echo", TASK_ROOT)
        results = [self.invoke({"k": "v" * 40, "i": i}, request_id="req-%d" % i)[1]
                   for i in range(3)]
        self.assertEqual([p.json() for p in results],
                         [{"echo": {"k": "v" * 40, "i": i}, "requestId": "req-%d" % i}
                          for i in range(3)])
        self.assertEqual({p.connection_id for p in results}, {results[0].connection_id})

    def test_a_response_split_across_tcp_segments_is_reassembled(self):
        self.api.reply_style = "split"
        self.start("app.context_fields", TASK_ROOT)
        identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
        for _ in range(2):
            request_id, post = self.invoke({}, function_arn=ARN,
                                           cognito_identity=json.dumps(identity))
            ctx = post.json()
            self.assertEqual((ctx["aws_request_id"], ctx["invoked_function_arn"]),
                             (request_id, ARN))
            self.assertEqual(ctx["identity"], ["id-1", "pool-1"])

    def test_connection_close_replies_are_followed_by_a_new_connection(self):
        self.check_connection_close_replies_are_followed_by_a_new_connection("app.counter", TASK_ROOT)

    def test_a_connection_the_api_closed_between_invocations_is_replaced(self):
        self.check_a_connection_closed_between_invocations_is_replaced("app.counter", TASK_ROOT)

    def test_a_request_on_a_reused_connection_closed_unanswered_is_sent_again(self):
        self.check_a_request_on_a_reused_connection_closed_unanswered_is_sent_again("app.counter", TASK_ROOT)

    # Init errors: posted to /init/error with AWS's exact type and message, then exit(1).

    def assert_init_error(self, handler, error_type, message, stack_trace=None):
        self.start(handler, TASK_ROOT)
        post, code = self.init_error()
        body = post.json()
        self.assertEqual(body["errorType"], error_type)
        self.assertEqual(body["errorMessage"], message)
        self.assertEqual(body["requestId"], "")
        if stack_trace is not None:
            self.assertEqual(body["stackTrace"], stack_trace)
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], error_type)
        self.assertEqual(code, 1)
        return body

    def test_missing_module_is_an_import_module_error(self):
        self.assert_init_error("nosuch.handler", "Runtime.ImportModuleError",
                               "Unable to import module 'nosuch': No module named 'nosuch'", [])
        out = self.child.stdout
        self.assertRegex(out, r"^\[WARNING\]\t%s\t\tLAMBDA_WARNING: Unhandled exception\. " % TS)
        self.assertIn("\n[ERROR] Runtime.ImportModuleError: Unable to import module 'nosuch': "
                      "No module named 'nosuch'\rTraceback (most recent call last):\n", out)

    def test_import_error_inside_the_module_is_an_import_module_error(self):
        self.assert_init_error(
            "import_err.handler", "Runtime.ImportModuleError",
            "Unable to import module 'import_err': No module named 'module_that_does_not_exist'")

    def test_missing_function_is_handler_not_found(self):
        self.assert_init_error("app.nope", "Runtime.HandlerNotFound",
                               "Handler 'nope' missing on module 'app'", [])

    def test_handler_without_a_dot_is_malformed(self):
        self.assert_init_error(
            "app", "Runtime.MalformedHandlerName",
            "Bad handler 'app': not enough values to unpack (expected 2, got 1)")

    def test_syntax_error_is_user_code_syntax_error(self):
        path = os.path.join(TASK_ROOT, "syntax_err.py")
        self.assert_init_error(
            "syntax_err.handler", "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'syntax_err': expected ':' (syntax_err.py, line 1)",
            ['  File "%s" Line 1\n    def handler(event, context)\n' % path])

    def test_builtin_module_name_is_a_conflict(self):
        self.assert_init_error("sys.handler", "Runtime.BuiltInModuleConflict",
                               "Cannot use built-in module sys as a handler module")

    def test_exception_at_import_time_posts_its_class_and_trace(self):
        body = self.assert_init_error("init_raise.handler", "RuntimeError", "cannot start")
        self.assertIn("init_raise.py\", line 5, in <module>\n    _boom()\n", body["stackTrace"][-2])
        self.assertIn("in _boom\n    raise RuntimeError(\"cannot start\")\n", body["stackTrace"][-1])


class SocketReaderTest(unittest.TestCase):
    """_SocketReader.read_head frames a response head exactly as reading it line by line would."""

    def reader_fed(self, *pieces):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        for piece in pieces:
            theirs.sendall(piece)
        theirs.close()
        # One recv per piece is not guaranteed; read_head must not depend on how bytes arrive.
        return nimbus_runtime_client._SocketReader(ours)

    def test_a_crlf_head_is_split_into_lines_and_the_body_is_left_unread(self):
        reader = self.reader_fed(b"HTTP/1.1 202 Accepted\r\nA: 1\r\nB:  two \r\n\r\nbody")
        self.assertEqual(reader.read_head(), ["HTTP/1.1 202 Accepted", "A: 1", "B:  two "])
        self.assertEqual(reader.read_to_eof(), b"body")

    def test_bare_lf_line_ends_and_a_bare_lf_blank_line_end_the_head(self):
        reader = self.reader_fed(b"HTTP/1.1 200 OK\nA: 1\r\nB: 2\n\n\r\n\r\nrest")
        self.assertEqual(reader.read_head(), ["HTTP/1.1 200 OK", "A: 1", "B: 2"])
        self.assertEqual(reader.read_to_eof(), b"\r\n\r\nrest")

    def test_the_first_line_is_the_status_line_even_when_empty(self):
        reader = self.reader_fed(b"\r\nA: 1\r\n\r\n")
        self.assertEqual(reader.read_head(), ["", "A: 1"])

    def test_a_head_arriving_one_byte_at_a_time_is_found(self):
        head = b"HTTP/1.1 200 OK\r\nX: \xe9\r\n\r\n"
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        recvs = []

        class OneByteSocket:
            def recv(self, n):
                recvs.append(n)
                return ours.recv(1)

        reader = nimbus_runtime_client._SocketReader(OneByteSocket())
        theirs.sendall(head + b"tail")
        theirs.close()
        self.assertEqual(reader.read_head(), ["HTTP/1.1 200 OK", "X: \u00e9"])
        self.assertEqual(reader.read_exact(4), b"tail")
        self.assertEqual(len(recvs), len(head) + 4)

    def test_eof_inside_a_head_is_none(self):
        self.assertIsNone(self.reader_fed(b"HTTP/1.1 200 OK\r\nA: 1\r\n").read_head())
        self.assertIsNone(self.reader_fed(b"").read_head())


class QuoteTest(unittest.TestCase):
    def test_unreserved_request_ids_are_used_as_they_are(self):
        rid = "8476a536-e9f4-11e8-9739-2dfe598c3fcd_A.~z"
        self.assertIs(nimbus_runtime_client._quote(rid), rid)
        self.assertEqual(nimbus_runtime_client._quote(""), "")

    def test_anything_else_is_percent_encoded_as_utf8(self):
        self.assertEqual(nimbus_runtime_client._quote("a b/\u00e9\u0661"), "a%20b%2F%C3%A9%D9%A1")


class ToJsonTest(unittest.TestCase):
    def test_output_matches_the_stdlib_encoder_and_decimals_keep_their_digits(self):
        import decimal

        value = {"a": [1, 2.5, None, True, "\u00e9\n"], "n": float("nan")}
        self.assertEqual(nimbus_runtime_client.to_json(value), json.dumps(value))
        self.assertEqual(nimbus_runtime_client.to_json([decimal.Decimal("1.10"), "x"]),
                         '[1.10, "x"]')

    def test_unserialisable_values_raise_the_stdlib_message(self):
        with self.assertRaisesRegex(TypeError, "^Object of type set is not JSON serializable$"):
            nimbus_runtime_client.to_json({"s": {1}})


if __name__ == "__main__":
    unittest.main()
