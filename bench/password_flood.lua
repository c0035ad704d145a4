-- Wrong-password requests for wrk, as fast as the service answers them. Started by
-- bench/password_flood.py, which passes:
--   wrk ... -s bench/password_flood.lua URL -- <headers> <user mode> <user id>
-- where headers is "Name: value|Name: value" (tenant and dnis key, or a wrong key), and the user
-- mode is "none" (no user headers), "same" (every request for <user id>), "client" (a user id per
-- connection) or "request" (a new user id every request, so that none is ever throttled).
-- done() writes "status count" lines to the file named by DNIS_BENCH_WRK_OUT.

package.path = string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "?.lua;" .. package.path
local common = require("wrk_common")

local DNIS = "/interact/version/2/dnis?limit=1"

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
  local padded = text .. string.rep("\0", (3 - #text % 3) % 3)
  local out = {}
  for i = 1, #padded, 3 do
    local a, b, c = string.byte(padded, i, i + 2)
    local n = a * 65536 + b * 256 + c
    for shift = 18, 0, -6 do
      local index = math.floor(n / 2 ^ shift) % 64
      table.insert(out, string.sub(ALPHABET, index + 1, index + 1))
    end
  end
  local encoded = table.concat(out)
  local pad = (3 - #text % 3) % 3
  return string.sub(encoded, 1, #encoded - pad) .. string.rep("=", pad)
end

-- Main thread: number the threads, so that their user ids differ.
setup = common.setup

-- Worker threads.
local headers, mode, user
local sent = 0
statuses = {}

function init(args)
  headers = common.parse_headers(args[1])
  mode = args[2]
  user = args[3]
  if mode == "client" then
    user = user .. "-" .. thread_no
  end
end

function request()
  sent = sent + 1
  if mode ~= "none" then
    local id = user
    if mode == "request" then
      id = user .. "-" .. thread_no .. "-" .. sent
    end
    headers["User-Id"] = base64(id)
    headers["User-Password"] = base64("wrong-guess-" .. sent)
  end
  return wrk.format("GET", DNIS, headers)
end

function response(status, _, _)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(common.threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local out = assert(io.open(os.getenv("DNIS_BENCH_WRK_OUT"), "w"))
  for status, count in pairs(totals) do
    out:write(status, " ", count, "\n")
  end
  out:close()
end
