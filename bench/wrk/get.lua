-- GET a random page (or a random person) of BENCH_PATH: "{n}" in the path becomes a random
-- number in 1..BENCH_N, zero-padded to BENCH_PAD digits (default none). Headers come from
-- BENCH_AUTH and BENCH_ACCEPT. Used for Roster and for the baselines alike.
local path = os.getenv("BENCH_PATH")
local n = tonumber(os.getenv("BENCH_N") or "1")
local pad = tonumber(os.getenv("BENCH_PAD") or "0")
local auth = os.getenv("BENCH_AUTH")
local accept = os.getenv("BENCH_ACCEPT")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
if accept and accept ~= "" then wrk.headers["Accept"] = accept end

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
end

request = function()
  local value = string.format("%0" .. pad .. "d", math.random(n))
  return wrk.format("GET", (path:gsub("{n}", value)))
end
