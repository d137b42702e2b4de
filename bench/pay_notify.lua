-- wrk hooks for the payment-notification row (loaded by bench/wrk.lua through BENCH_LUA).
--
-- bench/seed_orders.py wrote one signed WeChat payment notification per line, each for its own
-- unpaid order. Every request sends the next unsent one, so each request pays a new order:
-- thread t (0-based, of BENCH_THREADS) sends the lines i with i % threads == t, in order,
-- starting at the offset in the offset file (a multiple of the thread count). At the end,
-- `done` moves the offset past every line any thread reached, so the next wrk run (the
-- measured one after the warm-up) sends only lines no run sent before, and appends one JSON
-- line per run to the runs file: lines sent, fresh ones, repeats, responses.
--
-- Should a thread run out of lines, it starts its lines again from the first: those repeats
-- are cheap duplicate notifications (answered SUCCESS, nothing changes) and would inflate the
-- figure, so they are counted and bench/pay_notify_check.py fails the row when there are any.
-- Note: wrk calls `request` once before the run to check the script; that line is counted as
-- sent but never goes out (an upper bound stays an upper bound).

local BODIES = os.getenv("BENCH_NOTIFY_BODIES") or "bench/.work/pay_notify_bodies.txt"
local OFFSET = os.getenv("BENCH_NOTIFY_OFFSET") or "bench/.work/pay_notify.offset"
local RUNS = os.getenv("BENCH_NOTIFY_RUNS") or "bench/.work/pay_notify_runs.jsonl"
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "2")

local function read_offset()
  local f = io.open(OFFSET, "r")
  if not f then return 0 end
  local n = tonumber(f:read("*l") or "0") or 0
  f:close()
  return n
end

-- main state: hand each thread its number and the offset; gather their counts at the end
local threads = {}

setup = function(thread)
  local tid = #threads
  assert(tid < THREADS, "pay_notify.lua: more wrk threads than BENCH_THREADS=" .. THREADS)
  thread:set("tid", tid)
  thread:set("start", read_offset())
  threads[#threads + 1] = thread
end

-- thread states: this thread's lines, then one per request
init = function(args)
  bodies = {}
  local i = 0
  local f = assert(io.open(BODIES, "r"), "missing " .. BODIES .. " (run bench/seed.py)")
  for line in f:lines() do
    if line ~= "" then
      if i % THREADS == tid then bodies[#bodies + 1] = line end
      i = i + 1
    end
  end
  f:close()
  pos = math.floor(start / THREADS) -- lines of this thread sent by earlier runs
  sent, fresh, repeats = 0, 0, 0
end

request = function()
  pos = pos + 1
  sent = sent + 1
  local k = pos
  if k > #bodies then
    repeats = repeats + 1
    k = (k - 1) % #bodies + 1
  else
    fresh = fresh + 1
  end
  return wrk.format("POST", nil, {["Content-Type"] = "text/xml"}, bodies[k])
end

done = function(summary, latency, requests)
  local start = read_offset()
  local reached, sent, fresh, repeats = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    reached = math.max(reached, thread:get("pos"))
    sent = sent + thread:get("sent")
    fresh = fresh + thread:get("fresh")
    repeats = repeats + thread:get("repeats")
  end
  local next_offset = math.max(start, reached * THREADS)
  local f = assert(io.open(OFFSET, "w"))
  f:write(next_offset, "\n")
  f:close()
  local runs = assert(io.open(RUNS, "a"))
  runs:write(string.format(
    '{"start":%d,"next":%d,"sent":%d,"fresh":%d,"repeats":%d,"responses":%d,"errors_status":%d}\n',
    start, next_offset, sent, fresh, repeats, summary.requests, summary.errors.status))
  runs:close()
end
