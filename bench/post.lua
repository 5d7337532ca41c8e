-- wrk script for bench/bench.mjs: POST a '{}' event (the Invoke API's body).
-- The request is SigV4-signed by bench.mjs before each wrk run (one signature for
-- every request: SigV4 has no nonce and a signature stays valid for 15 minutes);
-- its headers come from the environment. Unset: the request goes unsigned.
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
local date = os.getenv("NIMBUS_BENCH_X_AMZ_DATE")
local authorization = os.getenv("NIMBUS_BENCH_AUTHORIZATION")
local sha256 = os.getenv("NIMBUS_BENCH_X_AMZ_CONTENT_SHA256")
if date and authorization then
  wrk.headers["X-Amz-Date"] = date
  wrk.headers["Authorization"] = authorization
end
if sha256 then wrk.headers["X-Amz-Content-Sha256"] = sha256 end
