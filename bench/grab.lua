-- wrk hooks for the red-envelope grab rows (loaded by bench/wrk.lua through BENCH_LUA).
--
-- bench/seed_envelopes.py wrote one Bearer token per line (BENCH_GRAB_TOKENS). The k-th request
-- (k counted from 0 over every run: the offset file says where this run starts) POSTs the row's
-- path with token k % F; thread t (0-based, of BENCH_THREADS) takes the k with k % threads == t.
-- While shares last every request is a different user's first grab; `wraps` counts the requests
-- past the last token (users asking again). `response` counts the answers by status and, for a
-- 409, by the error's code (already_grabbed / envelope_empty / ...). At the end `done` moves the
-- offset past every k any thread reached and appends one JSON line per run to the runs file:
-- {"start","next","responses","wraps","ok","already_grabbed","envelope_empty","other_409","other"}.
-- bench/envelope_checks.py reads them. (wrk calls `request` once before the run to check the
-- script; that k is never sent.)

local TOKENS = os.getenv("BENCH_GRAB_TOKENS") or "bench/.work/grab_tokens.txt"
local OFFSET = os.getenv("BENCH_GRAB_OFFSET") or "bench/.work/grab.offset"
local RUNS = os.getenv("BENCH_GRAB_RUNS") or "bench/.work/grab_runs.jsonl"
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "2")

local function read_offset()
  local f = io.open(OFFSET, "r")
  if not f then return 0 end
  local n = tonumber(f:read("*l") or "0") or 0
  f:close()
  return n
end

local threads = {}

setup = function(thread)
  local tid = #threads
  assert(tid < THREADS, "grab.lua: more wrk threads than BENCH_THREADS=" .. THREADS)
  thread:set("tid", tid)
  thread:set("start", read_offset())
  threads[#threads + 1] = thread
end

init = function(args)
  tokens = {}
  local f = assert(io.open(TOKENS, "r"), "missing " .. TOKENS .. " (run bench/seed_envelopes.py)")
  for line in f:lines() do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  f:close()
  assert(#tokens > 0, "grab.lua: " .. TOKENS .. " is empty")
  n = 0
  wraps, ok, already, empty, other409, other = 0, 0, 0, 0, 0, 0
end

request = function()
  local k = start + tid + THREADS * n
  n = n + 1
  if k >= #tokens then wraps = wraps + 1 end
  local headers = {["Authorization"] = "Bearer " .. tokens[k % #tokens + 1]}
  return wrk.format("POST", nil, headers, nil)
end

response = function(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 409 then
    local code = body:match('"code"%s*:%s*"([^"]+)"')
    if code == "already_grabbed" then already = already + 1
    elseif code == "envelope_empty" then empty = empty + 1
    else other409 = other409 + 1 end
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local start = read_offset()
  local reached = 0
  local sums = {wraps = 0, ok = 0, already = 0, empty = 0, other409 = 0, other = 0}
  for _, thread in ipairs(threads) do
    reached = math.max(reached, thread:get("n"))
    for key, _ in pairs(sums) do sums[key] = sums[key] + thread:get(key) end
  end
  local next_offset = start + reached * THREADS
  local f = assert(io.open(OFFSET, "w"))
  f:write(next_offset, "\n")
  f:close()
  local runs = assert(io.open(RUNS, "a"))
  runs:write(string.format(
    '{"start":%d,"next":%d,"responses":%d,"wraps":%d,"ok":%d,"already_grabbed":%d,"envelope_empty":%d,' ..
    '"other_409":%d,"other":%d}\n',
    start, next_offset, summary.requests, sums.wraps, sums.ok, sums.already, sums.empty, sums.other409, sums.other))
  runs:close()
end
