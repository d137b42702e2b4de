-- wrk request hook for the GET /s/<code> row (loaded by bench/wrk.lua through BENCH_LUA).
-- A realistic mix of visitors: NEW_SHARE of the requests come without a cookie (first-time
-- visitors: a new visitor id each time), the others send a signed `fx_vid` cookie drawn at
-- random from a pool of returning visitors that bench/seed_short_link.py wrote.

local NEW_SHARE = tonumber(os.getenv("BENCH_NEW_VISITOR_SHARE") or "0.2")
local POOL_FILE = os.getenv("BENCH_VID_POOL") or "bench/.work/fx_vid_pool.txt"

local requests = {}
local fresh

init = function(args)
  local f = assert(io.open(POOL_FILE, "r"), "missing " .. POOL_FILE .. " (run bench/seed.py)")
  for line in f:lines() do
    if line ~= "" then
      requests[#requests + 1] = wrk.format(nil, nil, {["Cookie"] = "fx_vid=" .. line})
    end
  end
  f:close()
  fresh = wrk.format(nil, nil, {})
  math.randomseed(os.time() + tonumber(tostring(requests):match("0x(%x+)") or "0", 16) % 100000)
end

request = function()
  if math.random() < NEW_SHARE then
    return fresh
  end
  return requests[math.random(#requests)]
end
