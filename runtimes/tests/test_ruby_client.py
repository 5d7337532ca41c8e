"""Specification of the Ruby runtime client (runtimes/ruby/bootstrap.rb), driven as a
subprocess against FakeRuntimeApi with the handlers in fixtures/ruby/."""

import json
import os
import re
import unittest

from runtime_test_support import FIXTURES_DIR, RUNTIMES_DIR, RuntimeTestCase

TASK_ROOT = os.path.join(FIXTURES_DIR, "ruby")
ARN = "arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod"
RUBY_ARGV = ["/usr/bin/ruby", os.path.join(RUNTIMES_DIR, "ruby", "bootstrap.rb")]


class RubyClientTest(RuntimeTestCase):
    ARGV = RUBY_ARGV
    EXECUTION_ENV = "AWS_Lambda_ruby3.3"

    def test_result_is_json_and_module_state_survives_between_invokes(self):
        self.start("function.handler", TASK_ROOT)
        request_id, post = self.invoke({"marker": "m1", "n": [1, None]}, request_id="req-1")
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/req-1/response")
        self.assertEqual(post.headers["content-type"], "application/json")
        self.assertEqual(post.json(), {"event": {"marker": "m1", "n": [1, None]}, "requestId": "req-1",
                                       "count": 1, "helper": "HI"})
        _, second = self.invoke({"marker": "m2"})
        self.assertEqual(second.json()["count"], 2)

    def test_output_puts_stderr_and_logger_with_request_id(self):
        self.start("function.handler", TASK_ROOT)
        request_id, _ = self.invoke({"marker": "m1"})
        _, out, err = self.output_at_post[-1]
        self.assertIn("puts line m1\n", out)
        self.assertIn("stderr line m1\n", err)
        self.assertRegex(out, r"(?m)^I, \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} #\d+\]  INFO %s -- : "
                              r"logger line m1$" % re.escape(request_id))

    def test_json_log_format_for_logger(self):
        self.start("function.handler", TASK_ROOT, {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        request_id, _ = self.invoke({"marker": "j"})
        rec = json.loads([l for l in self.child.stdout.splitlines() if l.startswith("{")][0])
        self.assertEqual((rec["level"], rec["message"], rec["requestId"]),
                         ("INFO", "logger line j", request_id))

    def test_context_fields(self):
        self.start("function.context_fields", TASK_ROOT)
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        cc = {"client": {"installation_id": "inst"}, "custom": {"t": "blue"}, "env": {"p": "l"}}
        request_id, post = self.invoke(
            {"sleep_ms": 300}, timeout_ms=60000, function_arn=ARN, trace_id=trace,
            client_context=json.dumps(cc),
            cognito_identity='{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}')
        c = post.json()
        self.assertEqual(c["aws_request_id"], request_id)
        self.assertEqual(c["function_name"], "test-fn")
        self.assertEqual(c["function_version"], "$LATEST")
        self.assertEqual(c["invoked_function_arn"], ARN)
        self.assertEqual(c["memory_limit_in_mb"], "256")
        self.assertEqual(c["log_group_name"], "/aws/lambda/test-fn")
        self.assertEqual(c["log_stream_name"], "2024/01/14/[$LATEST]425d2a3419de4db38f86fc1896cc1cc1")
        self.assertEqual(c["identity"], {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
        self.assertEqual(c["client_context"], cc)
        self.assertLessEqual(c["before"], 60000)
        self.assertGreater(c["before"], 50000)
        self.assertGreaterEqual(c["before"] - c["after"], 290)
        self.assertEqual(c["trace"], trace)
        self.assertEqual(c["execution_env"], "AWS_Lambda_ruby3.3")
        _, late = self.invoke({}, timeout_ms=-5000)
        self.assertEqual(late.json()["after"], 0)
        self.assertIsNone(late.json()["trace"])
        self.assertIsNone(late.json()["identity"])

    def test_class_method_handler(self):
        self.start("function.Outer::Inner.process", TASK_ROOT)
        _, post = self.invoke({"x": 5})
        self.assertEqual(post.json(), "class method 5")

    def test_io_result_is_sent_raw_and_nil_as_null(self):
        self.start("function.raw_io", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual((post.body, post.headers["content-type"]), (b"raw bytes", "application/unknown"))
        self.api.close()
        self.setUp()
        self.start("function.returns_nil", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b"null")

    def test_handler_error_document(self):
        self.start("function.fail", TASK_ROOT)
        request_id, post = self.invoke({"why": "disk"})
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/%s/error" % request_id)
        body = post.json()
        self.assertEqual(list(body), ["errorMessage", "errorType", "stackTrace"])
        self.assertEqual(body["errorMessage"], "it broke: disk")
        self.assertEqual(body["errorType"], "Function<MyError>")
        # User-defined classes are not named in the header, as on Lambda.
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "Function<UserException>")
        fn = os.path.join(TASK_ROOT, "function.rb")
        self.assertEqual(len(body["stackTrace"]), 2, body["stackTrace"])
        self.assertRegex(body["stackTrace"][0], r"^%s:\d+:in `helper_raise'$" % re.escape(fn))
        self.assertRegex(body["stackTrace"][1], r"^%s:\d+:in `fail'$" % re.escape(fn))
        self.wait_for_output('"errorType": "Function<MyError>"')
        self.assertIn("Error raised from handler method\n{\n", self.child.stdout)
        _, again = self.invoke({"why": "again"})
        self.assertEqual(again.json()["errorMessage"], "it broke: again")

    def test_standard_error_class_is_named_in_the_header(self):
        self.start("function.argument_error", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "Function<ArgumentError>")

    def test_name_errors_are_critical_and_end_the_environment(self):
        self.start("function.calls_missing", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.json()["errorType"], "Function<NameError>")
        self.assertIn("undefined local variable or method `undefined_thing_here'", post.json()["errorMessage"])
        self.assertEqual(self.child.wait(10), 255)

    def test_missing_handler_method(self):
        self.start("function.nope", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.json()["errorType"], "Function<NoMethodError>")
        self.assertIn("undefined method `nope'", post.json()["errorMessage"])
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "Function<NoMethodError>")
        self.assertEqual(self.child.wait(10), 255)

    def test_load_errors_are_init_errors(self):
        cases = [
            ("missing_file.handler", "Init<LoadError>", "cannot load such file -- missing_file"),
            ("load_error.handler", "Init<LoadError>", "cannot load such file -- a_gem_that_does_not_exist"),
            ("syntax_error.handler", "Init<SyntaxError>", "syntax error"),
            ("nodot", "Init<ArgumentError>", "Invalid handler"),
        ]
        for handler, error_type, message in cases:
            with self.subTest(handler=handler):
                self.api.close()
                self.setUp()
                self.start(handler, TASK_ROOT)
                post, code = self.init_error()
                self.assertEqual(code, 252)
                body = post.json()
                self.assertEqual(body["errorType"], error_type)
                self.assertIn(message, body["errorMessage"])
                self.assertIn("Init error when loading handler %s\n" % handler, self.child.stdout)

    def test_one_keep_alive_connection(self):
        self.start("function.returns_nil", TASK_ROOT)
        for _ in range(3):
            self.invoke({})
        calls = self.api.wait_for_next_calls(4)
        self.assertEqual(len({c for c, _ in calls} | {p.connection_id for p in self.api.posts}), 1)


if __name__ == "__main__":
    unittest.main()
