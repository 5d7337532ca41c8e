"""Specification of the Java runtime client (runtimes/java), driven as a subprocess against
FakeRuntimeApi with the handlers in fixtures/java (compiled by java_support)."""

import json
import unittest

from java_support import build
from runtime_test_support import RuntimeTestCase

ARN = "arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod"


class JavaClientTest(RuntimeTestCase):
    EXECUTION_ENV = "AWS_Lambda_java17"

    @classmethod
    def setUpClass(cls):
        cls.ARGV, cls.TASK_ROOT = build()

    def run_handler(self, handler, env=None):
        return self.start(handler, self.TASK_ROOT, env)

    def test_request_handler_map_in_map_out(self):
        self.run_handler("example.EchoHandler")
        request_id, post = self.invoke({"k": [1, "two", None], "n": {"x": 1.5}}, request_id="req-1")
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/req-1/response")
        self.assertEqual(post.json(), {"echo": {"k": [1, "two", None], "n": {"x": 1.5}},
                                       "requestId": "req-1"})
        self.assertEqual(post.headers["content-type"], "application/json")

    def test_context_carries_environment_and_header_fields(self):
        self.run_handler("example.ContextHandler")
        request_id, post = self.invoke(
            {"a": 1}, timeout_ms=60000, function_arn=ARN,
            cognito_identity='{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}',
            trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        ctx = post.json()
        self.assertEqual(ctx["awsRequestId"], request_id)
        self.assertEqual(ctx["functionName"], "test-fn")
        self.assertEqual(ctx["functionVersion"], "$LATEST")
        self.assertEqual(ctx["invokedFunctionArn"], ARN)
        self.assertEqual(ctx["memoryLimitInMB"], 256)
        self.assertEqual(ctx["logGroupName"], "/aws/lambda/test-fn")
        self.assertEqual(ctx["logStreamName"], "2024/01/14/[$LATEST]425d2a3419de4db38f86fc1896cc1cc1")
        self.assertGreater(ctx["remaining"], 50000)
        self.assertLessEqual(ctx["remaining"], 60000)
        self.assertEqual(ctx["identity"], "id-1|pool-1")
        self.assertEqual(ctx["clientContext"], "none")
        self.assertEqual(ctx["traceHeader"],
                         "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        self.assertEqual(ctx["executionEnv"], "AWS_Lambda_java17")
        self.assertEqual(ctx["input"], {"a": 1})
        # The trace property is cleared when the next invoke has no trace header.
        _, second = self.invoke({})
        self.assertEqual(second.json()["traceHeader"], "unset")

    def test_client_context_header(self):
        self.run_handler("example.ContextHandler")
        cc = {"client": {"installation_id": "inst", "app_title": "title", "app_version_name": "1.0",
                         "app_version_code": "42", "app_package_name": "com.example"},
              "custom": {"tenant": "blue"}, "env": {"platform": "linux"}}
        _, post = self.invoke({}, client_context=json.dumps(cc))
        self.assertEqual(post.json()["clientContext"], {
            "installationId": "inst", "appTitle": "title", "custom": {"tenant": "blue"},
            "env": {"platform": "linux"}})

    def test_remaining_time_counts_down_and_is_floored_at_zero(self):
        self.run_handler("example.ContextHandler")
        _, post = self.invoke({"sleep_ms": 300}, timeout_ms=5000)
        j = post.json()
        self.assertGreaterEqual(j["before"] - j["after"], 290)
        self.assertLess(j["before"] - j["after"], 2000)
        _, late = self.invoke({}, timeout_ms=-5000)
        self.assertEqual(late.json()["remaining"], 0)

    def test_pojo_input_with_setters_and_public_fields_and_pojo_output(self):
        self.run_handler("example.PojoHandler")
        _, post = self.invoke({"item": "apple", "quantity": 4, "tags": ["red"], "unknown": True})
        self.assertEqual(post.json(), {"summary": "4x apple [red]", "total": 12})

    def test_string_input_and_output_and_logging(self):
        self.run_handler("example.StringHandler")
        _, post = self.invoke("world")
        self.assertEqual(post.body.decode("utf-8"), '"hello world \u00e9"')
        path, out, err = self.output_at_post[-1]
        self.assertIn("stdout line for world\n", out)
        self.assertIn("logger line for world\n", out)
        self.assertIn("stderr line for world\n", err)

    def test_request_stream_handler_gets_raw_bytes(self):
        self.run_handler("example.StreamHandler")
        request_id, post = self.invoke(b'{"a": [1, 2]}')
        self.assertEqual(post.body, b'{"raw":{"a": [1, 2]},"id":"%s"}' % request_id.encode())

    def test_method_handlers(self):
        cases = [
            ("example.Methods::staticHandler", {"k": "v"}, b'"static v test-fn"'),
            ("example.Methods::sum", [1, 2, 3], b"6"),
            ("example.Methods::sum", 7, b"7"),  # a single value is accepted as a list
            ("example.Methods::upper", b'"abc"', b'"ABC"'),
            ("example.Methods::noArgs", {}, b'"no args"'),
            ("example.Methods::nothing", {}, b"null"),
            ("example.UsesLib::handleRequest", "bob", b'"greetings, bob"'),
        ]
        for handler, event, want in cases:
            with self.subTest(handler=handler):
                self.api.close()
                self.setUp()
                self.run_handler(handler)
                _, post = self.invoke(event)
                self.assertTrue(post.path.endswith("/response"), post.body)
                self.assertEqual(post.body, want)

    def test_instance_method_handler_keeps_its_instance_between_invokes(self):
        self.run_handler("example.Methods::doubled")
        _, first = self.invoke(5)
        _, second = self.invoke(5)
        self.assertEqual((first.body, second.body), (b"10", b"11"))

    def test_handler_exception_posts_error_document(self):
        self.run_handler("example.FailHandler")
        request_id, post = self.invoke({"why": "disk"})
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/%s/error" % request_id)
        self.assertEqual(post.headers["lambda-runtime-function-error-type"],
                         "example.FailHandler$MyException")
        body = post.json()
        self.assertEqual(list(body), ["errorMessage", "errorType", "stackTrace"])
        self.assertEqual(body["errorMessage"], "it broke: disk")
        self.assertEqual(body["errorType"], "example.FailHandler$MyException")
        # The user's frames only (the runtime's are cut), the compiler's bridge method included
        # as on Lambda.
        self.assertEqual(len(body["stackTrace"]), 3, body["stackTrace"])
        self.assertRegex(body["stackTrace"][0], r"^example\.FailHandler\.helper\(FailHandler\.java:\d+\)$")
        for frame in body["stackTrace"][1:]:
            self.assertRegex(frame, r"^example\.FailHandler\.handleRequest\(FailHandler\.java:\d+\)$")
        self.wait_for_output("it broke: disk: example.FailHandler$MyException\n")
        self.assertIn("example.FailHandler$MyException: it broke: disk\n\tat example.FailHandler.helper(",
                      self.child.stdout)
        # The environment survives a handler exception.
        _, again = self.invoke({"why": "again"})
        self.assertEqual(again.json()["errorMessage"], "it broke: again")

    def test_class_not_found_fails_every_invoke_as_lambda_does(self):
        self.run_handler("example.Nope")
        for _ in range(2):
            _, post = self.invoke({})
            self.assertTrue(post.path.endswith("/error"))
            self.assertEqual(post.json(), {"errorMessage": "Class not found: example.Nope",
                                           "errorType": "java.lang.ClassNotFoundException"})
            self.assertEqual(post.headers["lambda-runtime-function-error-type"],
                             "java.lang.ClassNotFoundException")

    def test_missing_method_and_wrong_interface(self):
        self.run_handler("example.Methods::nope")
        _, post = self.invoke({})
        self.assertEqual(post.json(), {"errorMessage": "No public method named nope with appropriate "
                                                       "method signature found on class example.Methods"})
        self.assertNotIn("lambda-runtime-function-error-type", post.headers)
        self.api.close()
        self.setUp()
        self.run_handler("example.NotAHandler")
        _, post = self.invoke({})
        self.assertEqual(post.json(), {"errorMessage": "Class does not implement an appropriate handler "
                                                       "interface: example.NotAHandler"})

    def test_static_initializer_failure_is_an_init_error(self):
        self.run_handler("example.InitFails")
        post, code = self.init_error()
        self.assertEqual(code, 1)
        self.assertEqual(post.json(), {"errorMessage": "Error loading class example.InitFails",
                                       "errorType": "java.lang.ExceptionInInitializerError"})
        self.assertEqual(post.headers["lambda-runtime-function-error-type"],
                         "java.lang.ExceptionInInitializerError")
        self.assertIn("static init failed", self.child.stdout)

    def test_constructor_failure_is_an_init_error_with_the_cause(self):
        self.run_handler("example.CtorFails")
        post, code = self.init_error()
        self.assertEqual(code, 1)
        self.assertEqual(post.json(), {"errorMessage": "constructor failed",
                                       "errorType": "java.lang.UnsupportedOperationException"})

    def test_unparseable_input_and_unserialisable_output(self):
        self.run_handler("example.PojoHandler")
        _, post = self.invoke({"quantity": "not a number"})
        self.assertEqual(post.json()["errorMessage"], "An error occurred during JSON parsing")
        self.assertEqual(post.json()["errorType"], "java.lang.RuntimeException")
        self.api.close()
        self.setUp()
        self.run_handler("example.Methods::badJson")
        _, post = self.invoke({})
        self.assertEqual(post.json()["errorMessage"],
                         "An error occurred during JSON serialization of response")

    def test_one_keep_alive_connection_for_every_request(self):
        self.run_handler("example.EchoHandler")
        for i in range(3):
            self.invoke({"i": i})
        calls = self.api.wait_for_next_calls(4)
        connections = {c for c, _ in calls} | {p.connection_id for p in self.api.posts}
        self.assertEqual(len(connections), 1, connections)

    def test_json_log_format(self):
        self.run_handler("example.StringHandler", {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        request_id, _ = self.invoke("x")
        line = [l for l in self.child.stdout.splitlines() if l.startswith("{")][0]
        rec = json.loads(line)
        self.assertEqual(rec["message"], "logger line for x")
        self.assertEqual(rec["AWSRequestId"], request_id)


if __name__ == "__main__":
    unittest.main()
