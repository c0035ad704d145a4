-- allocate → get → free cycles for wrk, one connection per thread (wrk -t N -c N), so that each
-- thread's state is one client's state. Started by bench/cycles.py, which passes:
--   wrk ... -s bench/cycle.lua URL -- <web headers> <dnis headers> <dnis+user headers> <id prefix>
-- where a header set is "Name: value|Name: value". Each thread records every request's latency
-- per operation; done() writes "op status milliseconds" lines to the file named by
-- DNIS_BENCH_WRK_OUT (done() runs in wrk's main thread, which never sees the arguments).

package.path = string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "?.lua;" .. package.path
local common = require("wrk_common")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } timespec;
  int clock_gettime(int clk_id, timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local DNIS = "/interact/version/2/dnis"

-- Main thread: number the threads, so that interaction ids never collide.
setup = common.setup

-- Worker threads.
local web, dnis, dnis_user, prefix
local op, phone, step, started = "allocate", nil, 0, 0
records = {}

function init(args)
  web = common.parse_headers(args[1])
  web["Content-Type"] = "application/json"
  dnis = common.parse_headers(args[2])
  dnis_user = common.parse_headers(args[3])
  prefix = args[4] .. "-" .. thread_no
end

function request()
  started = now_ms()
  if op == "allocate" then
    step = step + 1
    return wrk.format("POST", DNIS .. "/allocate/new", web, '{"id":"' .. prefix .. "-" .. step .. '"}')
  elseif op == "get" then
    return wrk.format("GET", DNIS .. "/allocate/get/" .. phone, dnis)
  else
    return wrk.format("POST", DNIS .. "/allocate/free/" .. phone, dnis_user, "")
  end
end

function response(status, headers, body)
  table.insert(records, op .. " " .. status .. " " .. string.format("%.3f", now_ms() - started))
  if op == "allocate" and status == 200 then
    op, phone = "get", body
  elseif op == "get" and status == 200 then
    op = "free"
  else
    -- a freed phone, a 403 (pool dry) or an error: the next cycle starts
    op = "allocate"
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("DNIS_BENCH_WRK_OUT"), "w"))
  for _, thread in ipairs(common.threads) do
    for _, line in ipairs(thread:get("records")) do
      out:write(line, "\n")
    end
  end
  out:close()
end
