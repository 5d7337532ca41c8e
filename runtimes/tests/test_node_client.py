"""Specification of the Node.js runtime client (runtimes/nodejs/bootstrap.mjs), driven as a
subprocess against FakeRuntimeApi with the handlers in fixtures/nodejs/."""

import json
import os
import time
import unittest

from runtime_test_support import FIXTURES_DIR, NODE_ARGV, RUNTIMES_DIR, TS, RuntimeTestCase

TASK_ROOT = os.path.join(FIXTURES_DIR, "nodejs")
BOOTSTRAP = os.path.join(RUNTIMES_DIR, "nodejs", "bootstrap.mjs")
ARN = "arn:aws:lambda:us-east-1:123456789012:function:test-fn:7"


class NodeClientTest(RuntimeTestCase):
    ARGV = NODE_ARGV
    EXECUTION_ENV = "AWS_Lambda_nodejs20.x"

    def test_posts_the_async_handler_result_as_json(self):
        self.start("index.echo", TASK_ROOT)
        _, post = self.invoke({"k": [1, "two", None]}, request_id="req-1")
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/req-1/response")
        self.assertEqual(post.body, b'{"echo":{"k":[1,"two",null]},"requestId":"req-1"}')
        self.assertEqual(post.headers["content-type"], "application/json")

    def test_a_stem_cell_waits_then_runs_with_the_function_environment_it_is_given(self):
        self.check_stem_cell("index.environment", TASK_ROOT)

    def test_a_stem_cell_exits_quietly_when_discarded_before_specialization(self):
        self.check_discarded_stem_cell()

    def test_undefined_result_is_posted_as_null(self):
        self.start("index.undefinedResult", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b"null")

    def test_context_carries_environment_and_header_fields(self):
        self.start("index.contextFields", TASK_ROOT)
        identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
        request_id, post = self.invoke({}, timeout_ms=60000, function_arn=ARN,
                                       cognito_identity=json.dumps(identity))
        ctx = post.json()
        self.assertEqual(ctx["awsRequestId"], request_id)
        self.assertEqual(ctx["functionName"], "test-fn")
        self.assertEqual(ctx["functionVersion"], "$LATEST")
        self.assertEqual(ctx["invokedFunctionArn"], ARN)
        self.assertEqual((ctx["memoryLimitInMB"], ctx["memoryType"]), ("256", "string"))
        self.assertEqual(ctx["logGroupName"], "/aws/lambda/test-fn")
        self.assertEqual(ctx["logStreamName"],
                         "2024/01/14/[$LATEST]425d2a3419de4db38f86fc1896cc1cc1")
        self.assertGreater(ctx["remaining"], 50000)
        self.assertLessEqual(ctx["remaining"], 60000)
        self.assertEqual(ctx["identity"], identity)
        self.assertIsNone(ctx["clientContext"])
        self.assertIs(ctx["waits"], True)

    def test_remaining_time_counts_down_towards_the_deadline(self):
        self.start("index.remainingAfterSleep", TASK_ROOT)
        _, post = self.invoke({"sleepMs": 300}, timeout_ms=5000)
        before, after = post.json()
        self.assertLessEqual(before, 5000)
        self.assertGreaterEqual(before - after, 290)
        self.assertLess(before - after, 2000)

    def test_client_context_header_is_parsed(self):
        self.start("index.contextFields", TASK_ROOT)
        client_context = {"client": {"installation_id": "inst"}, "custom": {"a": 1},
                          "env": {"platform": "linux"}}
        _, post = self.invoke({}, client_context=json.dumps(client_context))
        self.assertEqual(post.json()["clientContext"], client_context)

    def test_trace_header_is_exported_as_x_amzn_trace_id_per_invoke(self):
        self.start("index.contextFields", TASK_ROOT)
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        _, first = self.invoke({}, trace_id=trace)
        _, second = self.invoke({})
        self.assertEqual(first.json()["traceEnv"], trace)
        self.assertIsNone(second.json()["traceEnv"])

    def test_async_handler_rejection_posts_error_with_trace(self):
        self.start("index.asyncThrow", TASK_ROOT)
        request_id, post = self.invoke({"why": "disk"})
        self.assertEqual(post.path, "/2018-06-01/runtime/invocation/%s/error" % request_id)
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "MyError")
        body = post.json()
        self.assertEqual(list(body), ["errorType", "errorMessage", "trace"])
        self.assertEqual(body["errorType"], "MyError")
        self.assertEqual(body["errorMessage"], "it broke: disk")
        self.assertEqual(body["trace"][0], "MyError: it broke: disk")
        self.assertIn(os.path.join(TASK_ROOT, "index.js"), body["trace"][1])
        self.wait_for_output("Invoke Error")
        line = self.child.stdout.splitlines()[0]
        self.assertRegex(line, r"^%s\t%s\tERROR\tInvoke Error \t\{" % (TS, request_id))
        logged = json.loads(line.split("\t", 4)[4])
        self.assertEqual((logged["errorType"], logged["errorMessage"]),
                         ("MyError", "it broke: disk"))

    def test_sync_throw_posts_error_and_keeps_serving(self):
        self.start("index.syncThrow", TASK_ROOT)
        _, first = self.invoke({})
        _, second = self.invoke({})
        self.assertEqual(first.json()["errorType"], "TypeError")
        self.assertEqual(second.json()["errorMessage"], "sync broke")
        self.assertIsNone(self.child.proc.poll())

    def test_callback_result_waits_for_the_event_loop_to_drain(self):
        self.start("index.callbackWaits", TASK_ROOT)
        request_id, post = self.invoke({})
        self.assertEqual(post.body, b'{"style":"callback"}')
        # The 200 ms timer the handler left behind ran before the response was posted.
        self.assertIn("\t%s\tINFO\ttimer fired\n" % request_id, self.output_at_post[0][1])

    def test_callback_with_wait_disabled_responds_at_once(self):
        self.start("index.callbackNoWait", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.body, b'{"style":"nowait"}')
        self.assertNotIn("late timer fired", self.output_at_post[0][1])

    def test_callback_error_posts_error(self):
        self.start("index.callbackError", TASK_ROOT)
        _, post = self.invoke({})
        body = post.json()
        self.assertEqual((body["errorType"], body["errorMessage"]), ("Error", "callback failed"))

    def test_callback_with_a_string_error_uses_its_type_name(self):
        self.start("index.callbackString", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.json(), {"errorType": "string",
                                       "errorMessage": "plain string failure", "trace": []})

    def test_context_succeed_fail_and_done(self):
        for handler, expected in [("index.succeed", {"via": "succeed"}),
                                  ("index.done", {"via": "done"})]:
            with self.subTest(handler=handler):
                self.start(handler, TASK_ROOT)
                _, post = self.invoke({})
                self.assertTrue(post.path.endswith("/response"))
                self.assertEqual(post.json(), expected)
                self.child.kill()
                self.api.close()
                self.setUp()
        self.start("index.fail", TASK_ROOT)
        _, post = self.invoke({})
        self.assertTrue(post.path.endswith("/error"))
        self.assertEqual(post.json()["errorMessage"], "via fail")

    def test_sync_handler_that_never_calls_back_succeeds_with_null(self):
        self.start("index.syncNoCallback", TASK_ROOT)
        _, post = self.invoke({})
        self.assertTrue(post.path.endswith("/response"))
        self.assertEqual(post.body, b"null")

    def test_async_handler_that_never_settles_fails_with_node_js_exit(self):
        self.start("index.asyncNeverResolves", TASK_ROOT)
        _, post = self.invoke({})
        self.assertTrue(post.path.endswith("/error"))
        body = post.json()
        self.assertEqual(body["errorType"], "Runtime.NodeJsExit")
        self.assertEqual(body["errorMessage"], "Error: Runtime exited without providing a reason")

    def test_unhandled_rejection_posts_error_and_exits_128(self):
        self.start("index.unhandledRejection", TASK_ROOT)
        _, post = self.invoke({})
        body = post.json()
        self.assertEqual(body["errorType"], "Runtime.UnhandledPromiseRejection")
        self.assertEqual(body["errorMessage"], "Error: nobody caught me")
        self.assertEqual(self.child.wait(10), 128)

    def test_circular_result_is_a_stringify_error(self):
        self.start("index.circular", TASK_ROOT)
        _, post = self.invoke({})
        self.assertTrue(post.path.endswith("/error"))
        self.assertEqual(post.json()["errorMessage"], "Unable to stringify response body")

    def test_esm_mjs_handler(self):
        self.start("esm.handler", TASK_ROOT)
        request_id, post = self.invoke({"x": 1})
        self.assertEqual(post.json(), {"esm": "mjs", "event": {"x": 1}, "id": request_id})

    def test_esm_js_handler_under_type_module_package(self):
        self.start("esm_pkg/app.handler", TASK_ROOT)
        _, post = self.invoke({"x": 21})
        self.assertEqual(post.json(), {"esm": "type-module", "value": 42})

    def test_cjs_extension_handler(self):
        self.start("lib.handler", TASK_ROOT)
        _, post = self.invoke({"y": 2})
        self.assertEqual(post.json(), {"cjs": "cjs-extension", "event": {"y": 2}})

    def test_nested_export_and_module_in_subdirectory(self):
        self.start("index.nested.deeper.handler", TASK_ROOT)
        _, post = self.invoke({"z": 3})
        self.assertEqual(post.json(), {"nested": True, "event": {"z": 3}})
        self.child.kill()
        self.api.close()
        self.setUp()
        self.start("cjs_pkg/lib/mod.handlers.main", TASK_ROOT)
        _, post = self.invoke({"z": 4})
        self.assertEqual(post.json(), {"dir": True, "event": {"z": 4}})

    def test_console_methods_write_aws_text_lines(self):
        self.start("index.logLines", TASK_ROOT)
        request_id, _ = self.invoke({})
        lines = self.output_at_post[0][1].split("\n")
        prefix = r"^%s\t%s\t" % (TS, request_id)
        self.assertRegex(lines[0], prefix + r"INFO\thello world \{ a: 1 \}$")
        self.assertRegex(lines[1], prefix + "INFO\tmulti\rline$")
        self.assertRegex(lines[2], prefix + r"WARN\twarned$")
        self.assertRegex(lines[3], prefix + r"ERROR\terrored Error: inner\r    at ")
        self.assertRegex(lines[4], prefix + r"DEBUG\tdebugged$")
        self.assertRegex(lines[5], prefix + r"TRACE\ttraced$")
        self.assertEqual(lines[6:], [""])

    def test_log_level_filters_console_methods(self):
        self.start("index.logLines", TASK_ROOT, env={"AWS_LAMBDA_LOG_LEVEL": "WARN"})
        self.invoke({})
        out = self.output_at_post[0][1]
        levels = [line.split("\t")[2] for line in out.split("\n") if line]
        self.assertEqual(levels, ["WARN", "ERROR"])

    def test_json_log_format(self):
        self.start("index.logLines", TASK_ROOT, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        request_id, _ = self.invoke({})
        records = [json.loads(l) for l in self.output_at_post[0][1].split("\n") if l]
        self.assertEqual(len(records), 6)
        self.assertEqual(list(records[0]), ["timestamp", "level", "requestId", "message"])
        self.assertEqual(records[0]["message"], "hello world { a: 1 }")
        self.assertEqual(records[0]["requestId"], request_id)
        self.assertRegex(records[0]["timestamp"], "^%s$" % TS)
        self.assertEqual(records[1]["message"], "multi\nline")
        self.assertEqual(records[3]["errorType"], "Error")
        self.assertEqual(records[3]["errorMessage"], "inner")
        self.assertEqual([r["level"] for r in records],
                         ["INFO", "INFO", "WARN", "ERROR", "DEBUG", "TRACE"])

    def test_output_reaches_the_pipe_before_the_response_is_posted(self):
        self.start("index.printThenReturn", TASK_ROOT)
        for _ in range(3):
            request_id, _ = self.invoke({})
            out = self.output_at_post[-1][1]
            self.assertIn("\tINFO\tline-before-response %s\n" % request_id, out)
            self.assertIn("raw-stdout-before-response\n", out)

    def test_several_invokes_reuse_one_process_and_one_connection(self):
        self.start("index.counter", TASK_ROOT)
        results = [self.invoke({})[1] for _ in range(5)]
        bodies = [p.json() for p in results]
        self.assertEqual([b["n"] for b in bodies], [1, 2, 3, 4, 5])
        self.assertEqual({b["pid"] for b in bodies}, {self.child.proc.pid})
        self.assertEqual({p.connection_id for p in results}, {results[0].connection_id})
        next_calls = self.api.wait_for_next_calls(6)
        self.assertEqual({c for c, _ in next_calls}, {results[0].connection_id})

    def test_oversized_response_413_does_not_stop_the_loop(self):
        self.api.max_payload_bytes = 1000
        self.start("index.big", TASK_ROOT)
        _, first = self.invoke({"size": 5000})
        self.assertEqual(len(first.body), 5002)
        _, second = self.invoke({"size": 3})
        self.assertEqual(second.body, b'"xxx"')

    # The Runtime API connection: whatever HTTP/1.1 framing the server uses, the client reads
    # the same invocations and keeps to one connection while the server keeps it open.

    def test_chunked_responses_from_the_api_are_read_whole(self):
        self.api.reply_style = "chunked"
        self.start("index.echo", TASK_ROOT)
        results = [self.invoke({"k": "v" * 40, "i": i}, request_id="req-%d" % i)[1]
                   for i in range(3)]
        self.assertEqual([p.json() for p in results],
                         [{"echo": {"k": "v" * 40, "i": i}, "requestId": "req-%d" % i}
                          for i in range(3)])
        self.assertEqual({p.connection_id for p in results}, {results[0].connection_id})

    def test_a_response_split_across_tcp_segments_is_reassembled(self):
        self.api.reply_style = "split"
        self.start("index.contextFields", TASK_ROOT)
        identity = {"cognitoIdentityId": "id-\u00e9\U0001f600", "cognitoIdentityPoolId": "p"}
        for _ in range(2):
            request_id, post = self.invoke({}, function_arn=ARN,
                                           cognito_identity=json.dumps(identity))
            ctx = post.json()
            self.assertEqual((ctx["awsRequestId"], ctx["invokedFunctionArn"]), (request_id, ARN))
            self.assertEqual(ctx["identity"], identity)

    def test_a_body_split_inside_a_utf8_character_is_decoded_whole(self):
        self.api.reply_style = "split"
        self.start("index.echo", TASK_ROOT)
        # The fake cuts the body in half: inside one of these 4-byte characters.
        event = {"text": "\U0001f600" * 9}
        _, post = self.invoke(event)
        self.assertEqual(post.json()["echo"], event)

    def test_an_event_larger_than_one_read_is_received_whole(self):
        self.start("index.echo", TASK_ROOT)
        event = {"blob": "\u00e9" * (3 * 1024 * 1024)}
        _, post = self.invoke(event)
        self.assertEqual(post.json()["echo"], event)
        _, post = self.invoke({"small": 1})
        self.assertEqual(post.json()["echo"], {"small": 1})

    def test_connection_close_replies_are_followed_by_a_new_connection(self):
        self.check_connection_close_replies_are_followed_by_a_new_connection("index.counter", TASK_ROOT)

    def test_a_connection_the_api_closed_between_invocations_is_replaced(self):
        self.check_a_connection_closed_between_invocations_is_replaced("index.counter", TASK_ROOT)

    def test_a_request_on_a_reused_connection_closed_unanswered_is_sent_again(self):
        self.check_a_request_on_a_reused_connection_closed_unanswered_is_sent_again("index.counter", TASK_ROOT)

    def test_an_error_type_that_is_not_latin1_text_is_sent_with_question_marks(self):
        self.start("index.unicodeErrorName", TASK_ROOT)
        _, post = self.invoke({})
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], "???????")
        self.assertEqual(post.json()["errorType"], "\u041e\u0448\u0438\u0431\u043a\u0430\u0000")
        _, again = self.invoke({})
        self.assertTrue(again.path.endswith("/error"))

    # Init errors: posted to /init/error, logged as "Uncaught Exception", exit code 129.

    def assert_init_error(self, handler, error_type, message):
        self.start(handler, TASK_ROOT)
        post, code = self.init_error()
        body = post.json()
        self.assertEqual(body["errorType"], error_type)
        self.assertEqual(body["errorMessage"], message)
        self.assertEqual(post.headers["lambda-runtime-function-error-type"], error_type)
        self.assertEqual(code, 129)
        self.assertRegex(self.child.stdout,
                         r"^%s\tundefined\tERROR\tUncaught Exception \t\{\"errorType\":\"%s\""
                         % (TS, error_type.replace(".", r"\.")))
        return body

    def test_missing_module_is_an_import_module_error(self):
        self.assert_init_error("nosuch.handler", "Runtime.ImportModuleError",
                               "Error: Cannot find module 'nosuch'\nRequire stack:\n- %s"
                               % BOOTSTRAP)

    def test_missing_dependency_is_an_import_module_error(self):
        body = self.assert_init_error(
            "bad/requires_missing.handler", "Runtime.ImportModuleError",
            "Error: Cannot find module 'package-that-does-not-exist'\nRequire stack:\n- %s\n- %s"
            % (os.path.join(TASK_ROOT, "bad", "requires_missing.js"), BOOTSTRAP))
        self.assertEqual(body["trace"][0], "Runtime.ImportModuleError: Error: Cannot find module "
                                           "'package-that-does-not-exist'")

    def test_missing_export_is_handler_not_found(self):
        self.assert_init_error("index.handler", "Runtime.HandlerNotFound",
                               "index.handler is undefined or not exported")

    def test_non_function_export_is_handler_not_found(self):
        self.assert_init_error("index.notAFunction", "Runtime.HandlerNotFound",
                               "index.notAFunction is not a function")

    def test_handler_without_a_dot_is_malformed(self):
        self.assert_init_error("index", "Runtime.MalformedHandlerName", "Bad handler")

    def test_relative_handler_path_is_malformed(self):
        self.assert_init_error(
            "../index.echo", "Runtime.MalformedHandlerName",
            "'../index.echo' is not a valid handler name. Use absolute paths when specifying "
            "root directories in handler names.")

    def test_cjs_syntax_error_is_user_code_syntax_error(self):
        self.assert_init_error("bad/syntax.handler", "Runtime.UserCodeSyntaxError",
                               "SyntaxError: Unexpected end of input")

    def test_esm_syntax_error_is_user_code_syntax_error(self):
        self.assert_init_error("bad/syntax_esm.handler", "Runtime.UserCodeSyntaxError",
                               "SyntaxError: Unexpected token ';'")

    def test_exception_thrown_at_init_posts_its_type(self):
        body = self.assert_init_error("bad/init_throws.handler", "RangeError", "init exploded")
        self.assertEqual(body["trace"][0], "RangeError: init exploded")


if __name__ == "__main__":
    unittest.main()
