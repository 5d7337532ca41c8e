-- wrk script for bench/bench.mjs: POST a '{}' event (the Invoke API's body).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
