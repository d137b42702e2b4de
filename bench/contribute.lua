-- wrk hooks for the contribution-creation row (loaded by bench/wrk.lua through BENCH_LUA).
--
-- bench/seed_crowdfunds.py wrote the friends' Bearer tokens (one per line, F of them) and the
-- crowdfunds' contribution paths (one per line, N). The k-th request (k counted from 0 over
-- every run: the offset file says where this run starts) is friend k % F chipping in to
-- crowdfund (k + k // F) % N with the row's body (wrk.body, {"amount_fen": 100}), as
-- seed_crowdfunds.contribute_pair computes it: no friend chips in to one crowdfund twice before
-- F × N requests (past that, `wraps` counts them and the row's check fails: a second chip-in
-- first releases the friend's unpaid one, another path). Thread t (0-based, of BENCH_THREADS)
-- takes the k with k % threads == t. `response` keeps the number ("no") of every contribution
-- answered 201. At the end `done` moves the offset past every k any thread reached, appends
-- the numbers, one per line, to the numbers file, and one JSON line per run to the runs file.
-- bench/contribute_check.py finds each of those numbers reserved, with its WeChat order.
-- Note: wrk calls `request` once before the run to check the script; that k is never sent.

local TOKENS = os.getenv("BENCH_CONTRIBUTE_TOKENS") or "bench/.work/contribute_tokens.txt"
local PATHS = os.getenv("BENCH_CONTRIBUTE_PATHS") or "bench/.work/contribute_paths.txt"
local OFFSET = os.getenv("BENCH_CONTRIBUTE_OFFSET") or "bench/.work/contribute.offset"
local NOS = os.getenv("BENCH_CONTRIBUTE_NOS") or "bench/.work/contribute_nos.txt"
local RUNS = os.getenv("BENCH_CONTRIBUTE_RUNS") or "bench/.work/contribute_runs.jsonl"
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "2")

local function read_offset()
  local f = io.open(OFFSET, "r")
  if not f then return 0 end
  local n = tonumber(f:read("*l") or "0") or 0
  f:close()
  return n
end

local function read_lines(name)
  local lines = {}
  local f = assert(io.open(name, "r"), "missing " .. name .. " (run bench/seed_crowdfunds.py)")
  for line in f:lines() do
    if line ~= "" then lines[#lines + 1] = line end
  end
  f:close()
  assert(#lines > 0, "contribute.lua: " .. name .. " is empty")
  return lines
end

local threads = {}

setup = function(thread)
  local tid = #threads
  assert(tid < THREADS, "contribute.lua: more wrk threads than BENCH_THREADS=" .. THREADS)
  thread:set("tid", tid)
  thread:set("start", read_offset())
  threads[#threads + 1] = thread
end

init = function(args)
  tokens = read_lines(TOKENS)
  paths = read_lines(PATHS)
  n = 0 -- requests made by this thread in this run
  answered, created, other, wraps = 0, 0, 0, 0
  nos = {}
end

request = function()
  local k = start + tid + THREADS * n
  n = n + 1
  local f = #tokens
  if k >= f * #paths then wraps = wraps + 1 end
  local token = tokens[k % f + 1]
  local path = paths[(k + math.floor(k / f)) % #paths + 1]
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  return wrk.format("POST", path, headers, wrk.body)
end

response = function(status, headers, body)
  answered = answered + 1
  if status == 201 then
    created = created + 1
    nos[#nos + 1] = body:match('"no"%s*:%s*"([^"]+)"') or "?"
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local start = read_offset()
  local reached, answered, created, other, wraps = 0, 0, 0, 0, 0
  local out = assert(io.open(NOS, "a"))
  for _, thread in ipairs(threads) do
    reached = math.max(reached, thread:get("n"))
    answered = answered + thread:get("answered")
    created = created + thread:get("created")
    other = other + thread:get("other")
    wraps = wraps + thread:get("wraps")
    for _, no in ipairs(thread:get("nos")) do out:write(no, "\n") end
  end
  out:close()
  local next_offset = start + reached * THREADS
  local f = assert(io.open(OFFSET, "w"))
  f:write(next_offset, "\n")
  f:close()
  local runs = assert(io.open(RUNS, "a"))
  runs:write(string.format(
    '{"start":%d,"next":%d,"responses":%d,"answered":%d,"created":%d,"other":%d,"wraps":%d,"errors_status":%d}\n',
    start, next_offset, summary.requests, answered, created, other, wraps, summary.errors.status))
  runs:close()
end
