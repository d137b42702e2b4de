-- wrk script used by bench/run.py.
-- The request comes from the environment (method, body and its Content-Type, Authorization header);
-- at the end one machine-readable line "BENCH_JSON {...}" sums the run up
-- (latencies in microseconds; "status" counts responses with status >= 400).

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then wrk.method = method end

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  local content_type = os.getenv("BENCH_CONTENT_TYPE")
  wrk.headers["Content-Type"] = (content_type and content_type ~= "") and content_type or "application/json"
end

local auth = os.getenv("BENCH_AUTHORIZATION")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

-- A row's own script (endpoints.py "lua"), e.g. a `request` hook that varies each request.
local extra = os.getenv("BENCH_LUA")
if extra and extra ~= "" then dofile(extra) end
local row_done = done -- the row script's own `done`, if it has one: called after the summary line

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  if row_done then row_done(summary, latency, requests) end
end
